//! SMTP client for delivery and re-injection: sans-I/O protocol core with a tokio driver.
