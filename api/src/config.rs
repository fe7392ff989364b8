//! Resolved runtime settings: where the database is, how tokens are checked, and whether
//! this is the embedded local mode.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;

use crate::auth::{KeySource, Minter, Verifier};
use crate::cli::{GlobalArgs, PublicKeyAlgorithm};

/// Settings every command needs.
#[derive(Clone)]
pub struct Settings {
    /// Database URL.
    pub database_url: String,
    /// Where the embedded database and local secret live.
    pub data_dir: PathBuf,
    /// How tokens are verified.
    pub verifier: Verifier,
    /// A minter, when tokens are HS256 (configured or local secret).
    pub minter: Option<Minter>,
    /// No key was configured: the local secret is in use, and the server prints a demo token.
    pub local_mode: bool,
    /// Pool size.
    pub db_max_connections: u32,
}

fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("io", "tandem", "tandem")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("./tandem-data"))
}

/// Reads the local signing secret, creating it (owner-only) on first use.
fn local_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("local-jwt-secret");
    if let Ok(existing) = fs::read_to_string(&path) {
        let trimmed = existing.trim();
        if trimmed.len() >= 32 {
            return Ok(trimmed.as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    fs::write(&path, &secret).with_context(|| format!("Failed to write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("Failed to restrict {}", path.display()))?;
    }
    Ok(secret.into_bytes())
}

impl Settings {
    /// Resolves settings from arguments and environment.
    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Self> {
        let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
        fs::create_dir_all(&data_dir)
            .with_context(|| format!("Failed to create data directory {}", data_dir.display()))?;
        let database_url = match &args.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("tandem.sqlite").display()
            ),
        };
        let issuer = args.jwt_issuer.as_deref();
        let audience = args.jwt_audience.as_deref();
        let (source, local_mode) = match (&args.jwt_secret, &args.jwt_public_key_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "configure either TANDEM_JWT_SECRET or TANDEM_JWT_PUBLIC_KEY_FILE, not both"
            ),
            (Some(secret), None) => {
                if secret.len() < 32 {
                    anyhow::bail!("TANDEM_JWT_SECRET must be at least 32 characters");
                }
                (KeySource::Secret(secret.as_bytes().to_vec()), false)
            }
            (None, Some(file)) => {
                let pem =
                    fs::read(file).with_context(|| format!("Failed to read {}", file.display()))?;
                let source = match args.jwt_algorithm {
                    PublicKeyAlgorithm::Rs256 => KeySource::RsaPublicPem(pem),
                    PublicKeyAlgorithm::Es256 => KeySource::EcPublicPem(pem),
                };
                (source, false)
            }
            (None, None) => (KeySource::Secret(local_secret(&data_dir)?), true),
        };
        let verifier =
            Verifier::new(&source, issuer, audience).context("Failed to load the token key")?;
        let minter = match &source {
            KeySource::Secret(secret) => Some(Minter::new(
                secret,
                args.jwt_issuer.clone(),
                args.jwt_audience.clone(),
            )),
            _ => None,
        };
        Ok(Self {
            database_url,
            data_dir,
            verifier,
            minter,
            local_mode,
            db_max_connections: args.db_max_connections,
        })
    }
}
