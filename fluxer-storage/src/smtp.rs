//! SMTP mail on lettre.
