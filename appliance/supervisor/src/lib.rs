//! The filterbox supervisor: starts, watches and restarts the roles (filterbox up).
