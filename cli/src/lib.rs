//! pictor-cli
