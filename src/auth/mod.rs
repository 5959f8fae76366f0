//! The domain: ACL matching, passwords, token rules. No HTTP and no SQL here.
pub mod acl;
pub mod password;
pub mod service;
pub mod throttle;
pub mod token;
