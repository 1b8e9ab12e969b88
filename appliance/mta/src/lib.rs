//! The filterbox mta role: SMTP server, durable queue, milter client and delivery.
