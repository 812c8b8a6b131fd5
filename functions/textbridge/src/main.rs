//! `textbridge`: the whole product in one process on the embedded backend, and the
//! operator commands that go with it.

use std::{net::IpAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{Args, Parser, Subcommand};
use textbridge::{DevKey, with_console, worker};
use textbridge_api::Claims;
use textbridge_app::{App, Config, archive::Archiver, ports::Ats, sync};
use textbridge_domain::{Error, Region, Role};
use textbridge_embedded::LocalUploads;
use tokio::sync::watch;

#[derive(Parser)]
#[command(name = "textbridge", version, about = "Texting integration for staffing platforms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves every route, runs the archiver worker and the ATS sync timer.
    Serve(ServeArgs),
    /// Prints a development token that only this installation's server accepts.
    Token(TokenArgs),
    /// Imports texting users from a CSV, XLSX or XLS file into a tenant: previews,
    /// optionally remaps, then applies with a progress bar (or resumes an import).
    Import(ImportArgs),
    /// Lists or replays dead letters.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Runs the ATS sync of one tenant now and prints its report as JSON.
    Sync {
        #[command(flatten)]
        data: DataDir,
        /// The tenant to sync.
        #[arg(long)]
        tenant: String,
        /// Region national phone numbers from the ATS are read in.
        #[arg(long, env = "DEFAULT_COUNTRY", default_value = "US", value_parser = parse_region)]
        default_country: Region,
    },
    /// Prints the intake queue's depth and its dead letters per tenant as JSON.
    Status {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
struct DataDir {
    /// Folder of the database, secrets key and token key.
    #[arg(long, env = "TEXTBRIDGE_DATA_DIR", default_value = ".textbridge")]
    data_dir: PathBuf,
}

fn parse_region(s: &str) -> Result<Region, String> {
    Region::parse(s).map_err(|e| e.to_string())
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Region for national phone numbers (SAM parameter DefaultCountry).
    #[arg(long, env = "DEFAULT_COUNTRY", default_value = "US", value_parser = parse_region)]
    default_country: Region,
    /// Log level (SAM parameter LogLevel).
    #[arg(long, env = "LOG_LEVEL", default_value = "info",
          value_parser = ["trace", "debug", "info", "warn", "error"])]
    log_level: String,
    /// The URL providers reach this server at (default: the listening address).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// Seconds a received queue message stays hidden before it is delivered again
    /// (and how long an archiver's claim on an ATS write lasts).
    #[arg(long, env = "VISIBILITY_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(textbridge_app::VISIBILITY_TIMEOUT_SECS))]
    visibility_timeout_secs: u64,
    /// Seconds a change made by another process (the `import`, `sync` and `dlq`
    /// commands) may take to reach the server's caches of webhook registrations,
    /// allow-lists, secrets, usernames and security groups; a change made through the
    /// server reaches them at once (0 turns caching off).
    #[arg(long, env = "CACHE_TTL_SECS", default_value_t = Config::default().cache_ttl.as_secs(),
          value_parser = clap::value_parser!(u64).range(textbridge_app::CACHE_TTL_SECS))]
    cache_ttl_secs: u64,
    /// Minutes between ATS sync runs.
    #[arg(long, env = "SYNC_INTERVAL_MINUTES", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=1440))]
    sync_interval_minutes: u64,
    /// The most connections served at once; more are answered 503 and closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,
    /// Seconds a client has to send a request head (and the longest an idle
    /// kept-alive connection stays open).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_secs: u64,
    /// Seconds a client has to send a request body, counted from its head (408 after).
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_read_timeout_secs: u64,
    /// Prints a one-time admin console sign-in link for an admin of this tenant
    /// (repeat, or separate with commas, for more tenants).
    #[arg(long, env = "CONSOLE_ADMIN", value_delimiter = ',')]
    console_admin: Vec<String>,
}

#[derive(Args)]
struct TokenArgs {
    #[command(flatten)]
    data: DataDir,
    /// Tenant id.
    #[arg(long)]
    tenant: String,
    /// Role: user, reporter, manager, customer_admin, staff.
    #[arg(long, default_value = "customer_admin")]
    role: Role,
    /// User id.
    #[arg(long, default_value = "local-admin")]
    user_id: String,
    /// Username.
    #[arg(long, default_value = "admin@localhost")]
    username: String,
    /// Permission group.
    #[arg(long, default_value = "Default")]
    group: String,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The file (CSV, XLSX or XLS); not needed with --resume.
    #[arg(required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Tenant id.
    #[arg(long)]
    tenant: String,
    /// The importing user's role (manager or customer_admin; staff too).
    #[arg(long, default_value = "manager")]
    role: Role,
    /// The importing user's id.
    #[arg(long, default_value = "local-import")]
    user_id: String,
    /// A column's field, by the column's header: `--map "Mail=email"`, or
    /// `--map "Notes=unmapped"` (repeat for more columns).
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    map: Vec<String>,
    /// Only preview: print what each row would do and change nothing.
    #[arg(long)]
    preview: bool,
    /// Go on with an import that stopped (its id).
    #[arg(long, conflicts_with = "file")]
    resume: Option<String>,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Prints dead letters (id, tenant, kind; never the message), one JSON object per line.
    List {
        #[command(flatten)]
        data: DataDir,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
    /// Moves dead letters back to the intake queue (all, or those named).
    Replay {
        #[command(flatten)]
        data: DataDir,
        /// Dead letter ids; none means all.
        #[arg(long = "id")]
        ids: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Token(args) => token(args),
        Command::Import(args) => import(args).await,
        Command::Dlq { command } => dlq(command).await,
        Command::Sync { data, tenant, default_country } => sync_now(data, &tenant, default_country).await,
        Command::Status { data } => status(data).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e {
                // A start-up fault names its own subject; the variant's prefix adds nothing.
                Error::Unexpected(message) => eprintln!("error: {message}"),
                other => eprintln!("error: {other}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn dev_key(data: &DataDir) -> Result<DevKey, Error> {
    DevKey::load_or_create(&data.data_dir.join("dev-token.key"))
}

impl DataDir {
    /// The data directory of an existing installation: commands other than `serve`
    /// never create one (a mistyped path would otherwise be a new, empty installation).
    fn existing(&self) -> Result<&Self, Error> {
        match std::fs::metadata(&self.data_dir) {
            Ok(meta) if meta.is_dir() => Ok(self),
            Ok(_) => Err(Error::invalid("--data-dir", format!("{} is not a directory", self.data_dir.display()))),
            Err(_) => Err(Error::invalid(
                "--data-dir",
                format!(
                    "{} does not exist; check the path, or run `textbridge serve --data-dir {}` once to create \
                     a new installation there",
                    self.data_dir.display(),
                    self.data_dir.display()
                ),
            )),
        }
    }

    /// Creates the data directory when there is none, saying so in the log.
    fn create_if_missing(&self) -> Result<(), Error> {
        if self.data_dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| Error::invalid("--data-dir", format!("cannot create {}: {e}", self.data_dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700));
        }
        tracing::warn!(
            data_dir = %self.data_dir.display(),
            "created a new, empty data directory (a new installation); if you meant an existing one, stop and check --data-dir"
        );
        Ok(())
    }
}

/// The claims of a console admin of `tenant` (the defaults of `token`).
fn console_admin(tenant: &str) -> Claims {
    Claims {
        tenant: tenant.to_owned(),
        sub: "local-admin".into(),
        username: "admin@localhost".into(),
        role: Role::CustomerAdmin.as_str().to_owned(),
        group: "Default".into(),
    }
}

fn token(args: TokenArgs) -> Result<(), Error> {
    let claims = Claims {
        tenant: args.tenant,
        sub: args.user_id,
        username: args.username,
        role: args.role.as_str().to_owned(),
        group: args.group,
    };
    claims.clone().into_identity()?;
    println!("{}", dev_key(args.data.existing()?)?.sign(&claims, args.ttl_hours * 3600)?);
    Ok(())
}

async fn open(data: &DataDir) -> Result<textbridge_embedded::Embedded, Error> {
    Ok(textbridge_embedded::open(&data.data_dir).await?)
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    textbridge_telemetry::init(&args.log_level);
    // Every setting is checked before anything is created on disk.
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env()?);
    if let Some(url) = &args.public_base_url {
        textbridge_app::public_base_url(url)?;
    }
    let tempworks_url = std::env::var(textbridge_ats::TempWorks::BASE_URL_VARIABLE).unwrap_or_default();
    if !tempworks_url.trim().is_empty() {
        textbridge_app::base_url(textbridge_ats::TempWorks::BASE_URL_VARIABLE, tempworks_url.trim())?;
    }
    let console_admins = args
        .console_admin
        .iter()
        .map(|tenant| {
            textbridge_domain::TenantId::parse(tenant.trim())
                .map_err(|e| Error::invalid("--console-admin", format!("{tenant:?} is not a tenant id ({e})")))?;
            Ok(console_admin(tenant.trim()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let limits = textbridge_api::server::Limits {
        max_connections: usize::try_from(args.max_connections).map_err(Error::unexpected)?,
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        body_read_timeout: Duration::from_secs(args.body_read_timeout_secs),
    };
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .map_err(|e| Error::invalid("PORT", format!("cannot listen on {}:{}: {e}", args.bind, args.port)))?;
    let addr = listener.local_addr().map_err(Error::unexpected)?;
    let public_base_url =
        textbridge_app::public_base_url(&args.public_base_url.unwrap_or_else(|| format!("http://{addr}")))?;

    args.data.create_if_missing()?;
    let key = dev_key(&args.data)?;
    let auth = Arc::new(key.clone());
    let mint_key = key.clone();
    let sign_in = Arc::new(textbridge_console::LocalSignIn::new(Arc::new(move |claims: &Claims, ttl| {
        mint_key.sign(claims, ttl)
    })));
    let embedded = open(&args.data).await?;
    let config = Config {
        default_region: args.default_country,
        public_base_url,
        visibility_timeout: Duration::from_secs(args.visibility_timeout_secs),
        cache_ttl: Duration::from_secs(args.cache_ttl_secs),
    };
    let backend = embedded.backend();
    let ats = textbridge_ats::TempWorks::from_env(backend.secrets.clone())?.map(|t| Arc::new(t) as Arc<dyn Ats>);
    let clock: Arc<dyn textbridge_app::ports::Clock> = Arc::new(textbridge_app::ports::SystemClock);
    let uploads = Arc::new(LocalUploads::open(&embedded, config.public_base_url.as_str(), clock).await?);
    let app = App::on(backend, config)
        .with_providers(providers)
        .with_ats(ats)
        .with_directory(Arc::new(textbridge_ats::Directory::default()))
        .with_uploads(uploads.clone())
        .shared();
    tracing::info!(%addr, data_dir = %args.data.data_dir.display(), "listening");
    // The links are credentials: printed for the operator, never logged.
    for claims in console_admins {
        let tenant = claims.tenant.clone();
        eprintln!(
            "Admin console for {tenant} (this link works once): {}",
            sign_in.link(&format!("http://{addr}"), claims)
        );
    }

    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(worker::run(
        app.queue()?.clone(),
        Arc::new(Archiver::new(app.clone())),
        app.config.visibility_timeout,
        stopped.clone(),
    ));
    let every = Duration::from_secs(args.sync_interval_minutes * 60);
    let timer = tokio::spawn(scheduled(app.clone(), embedded.clone(), every, stopped));

    textbridge_api::server::serve(
        listener,
        with_console(&app, auth, uploads, Some(textbridge_console::SignIn::Local(sign_in))),
        limits,
        shutdown_signal(),
    )
    .await
    .map_err(Error::unexpected)?;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::join!(worker, timer);
    Ok(())
}

/// The scheduled work of the local server, `every` interval: the ATS sync, and the
/// sweep of expired items (DynamoDB's time to live does it on AWS).
async fn scheduled(
    app: Arc<App>,
    embedded: textbridge_embedded::Embedded,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(e) = sync::run_all(app.clone()).await {
                    tracing::error!(error = %e, "ats sync failed");
                }
                match embedded.sweep_expired(app.clock.now().unix_timestamp()).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "expired items removed"),
                    Err(e) => tracing::error!(error = %e, "sweeping expired items failed"),
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

async fn status(data: DataDir) -> Result<(), Error> {
    let app = App::on(open(data.existing()?).await?.backend(), Config::default());
    let status = textbridge_app::dead_letters::status(&app).await?;
    println!("{}", serde_json::to_string(&status).map_err(Error::unexpected)?);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn sync_now(data: DataDir, tenant: &str, default_region: Region) -> Result<(), Error> {
    let tenant = textbridge_domain::TenantId::parse(tenant)?;
    let config = Config { default_region, ..Config::default() };
    let app = App::on(open(data.existing()?).await?.backend(), config)
        .with_directory(Arc::new(textbridge_ats::Directory::default()))
        .shared();
    let report = sync::run_tenant(&app, &tenant).await;
    println!("{}", serde_json::to_string(&report).map_err(Error::unexpected)?);
    match report.error {
        Some(why) => Err(Error::Unavailable(why)),
        None => Ok(()),
    }
}

async fn import(args: ImportArgs) -> Result<(), Error> {
    let caller = Claims {
        tenant: args.tenant.clone(),
        sub: args.user_id.clone(),
        username: "import@localhost".into(),
        role: args.role.as_str().to_owned(),
        group: "default".into(),
    }
    .into_identity()?;
    let app = App::on(open(args.data.existing()?).await?.backend(), Config::default()).shared();
    textbridge::import::run_cli(&app, &caller, args.file.as_deref(), &args.map, args.preview, args.resume.as_deref())
        .await
}

async fn dlq(command: DlqCommand) -> Result<(), Error> {
    match command {
        DlqCommand::List { data, max } => {
            let app = App::on(open(data.existing()?).await?.backend(), Config::default());
            for letter in app.queue()?.dead_letters(max).await? {
                let view = textbridge_app::dead_letters::describe(&app, &letter).await?;
                println!("{}", serde_json::to_string(&view).map_err(Error::unexpected)?);
            }
        }
        DlqCommand::Replay { data, ids } => {
            let queue = open(data.existing()?).await?.backend().queue;
            let moved = queue.replay((!ids.is_empty()).then_some(ids.as_slice())).await?;
            println!("replayed {moved} dead letter(s)");
        }
    }
    Ok(())
}
