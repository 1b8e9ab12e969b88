//! filterbox ctl: the command-line client of the manager's API.
