//! qrysm's slashing-protection schema (`validator/db/kv`), read with [`crate::bolt`].
