//! The `tandem` command: `serve` (default), `migrate`, `org create`, `token`, `schema`.

use anyhow::Context;
use clap::Parser;
use tandem_api::cli::{Cli, Command, MigrateAction, OrgAction, ServeArgs};
use tandem_api::config::Settings;
use tandem_api::server;
use tandem_api::telemetry::{self, OtlpSettings};
use tandem_domain::access::AccessRole;
use tandem_persistence::{Actor, Store};

/// `serve`'s settings from the environment alone, for `tandem` without a command.
#[derive(Parser)]
struct ServeFromEnv {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", tandem_api::build_schema(Default::default()).sdl());
        return Ok(());
    }
    // Telemetry starts before the runtime: the trace exporter runs on its own threads.
    let otlp = cli
        .global
        .otlp_endpoint
        .as_ref()
        .map(|endpoint| OtlpSettings {
            endpoint: endpoint.clone(),
            service_name: cli.global.otlp_service_name.clone(),
        });
    let guard = telemetry::init(cli.global.log_format, otlp.as_ref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")?;
    let result = runtime.block_on(run(cli));
    drop(runtime);
    guard.shutdown();
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.global)?;
    match cli.command {
        None => {
            let args = ServeFromEnv::parse_from(["tandem"]).serve;
            server::serve(&settings, &args).await
        }
        Some(Command::Serve(args)) => server::serve(&settings, &args).await,
        Some(Command::Migrate { action }) => {
            let store = connect(&settings).await?;
            match action {
                MigrateAction::Up { steps } => {
                    store.migrate_up(steps).await?;
                    println!("migrations applied");
                }
                MigrateAction::Down { steps } => {
                    store.migrate_down(steps).await?;
                    println!("migrations rolled back");
                }
                MigrateAction::Status => {
                    for step in store.migration_status().await? {
                        println!(
                            "{}\t{}",
                            if step.applied { "applied" } else { "pending" },
                            step.name
                        );
                    }
                }
            }
            Ok(())
        }
        Some(Command::Org {
            action: OrgAction::Create { name },
        }) => {
            let name = tandem_domain::segments::parse_display_name(&name)
                .map_err(|e| anyhow::anyhow!("--name {e}"))?;
            let store = connect(&settings).await?;
            store.migrate_up(None).await?;
            let org = store
                .create_organization(&Actor("system:cli".to_owned()), &name)
                .await?;
            println!("{}", org.id);
            Ok(())
        }
        Some(Command::Token(args)) => {
            let minter = settings
                .minter
                .as_ref()
                .context("tokens can only be minted with a shared secret (TANDEM_JWT_SECRET or the local one)")?;
            let roles = args
                .roles
                .iter()
                .map(|r| AccessRole::from_claim(r).with_context(|| format!("unknown role `{r}`")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            println!(
                "{}",
                minter.mint(&args.sub, args.org, &roles, args.ttl_hours * 3600)?
            );
            Ok(())
        }
        Some(Command::Schema) => Ok(()),
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect(&settings.database_url, settings.db_max_connections)
        .await
        .context("Failed to connect to the database")
}
