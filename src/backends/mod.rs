//! What starts bottles: names and labels, embedded image templates, the
//! pure launch plan and its preflight text, the workspace copy, and the
//! Docker Engine connection. Must not import `ui`, `app` or `session`.

pub mod docker;
pub mod images;
pub mod names;
pub mod plan;
pub mod preflight;
pub mod workdiff;
pub mod workspace_copy;
