//! The filterbox manager role: data.db, the JSON API, quarantine and tracking.
