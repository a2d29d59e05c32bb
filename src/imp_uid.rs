//! The old path of [`crate::verification_id`], kept for code (fuzz targets, benches) that names
//! `verigate::imp_uid`.

pub use crate::verification_id::{ImpUid, ImpUidError, MAX_LEN};
