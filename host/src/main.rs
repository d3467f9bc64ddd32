//! The `vantage` command line: `up` serves a Spin manifest, `build` builds its components.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use vantage::engine::EngineOptions;
use vantage::manifest::Manifest;
use vantage::server::{self, App, AppOptions, RequestLimits};

#[derive(Parser)]
#[command(
    name = "vantage",
    version,
    about = "Vantage edge personalization: the PoP host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application in a Spin manifest (like `spin up`).
    Up(UpArgs),
    /// Benchmarks: load generator, native baseline, in-process host overhead.
    #[command(subcommand)]
    Bench(vantage::bench::BenchCommand),
    /// Run every component's build command (like `spin build`).
    Build {
        /// The manifest, or a directory holding spin.toml.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
    },
    /// Push a projection NDJSON file to one or more PoPs (or generate one with --generate).
    Push(vantage::push::PushArgs),
    /// Write a synthetic projection (CRM profiles with loyalty, transactions and model scores,
    /// identity links, memberships) as NDJSON, to stdout or --out.
    GenProfiles(vantage::push::GenProfilesArgs),
    /// The demo storefront's data: `demo seed`, `demo link`.
    #[command(subcommand)]
    Demo(vantage::demo::DemoCommand),
}

#[derive(clap::Args)]
struct UpArgs {
    /// The manifest, or a directory holding spin.toml.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Spin runtime config (key-value stores: `type = "spin"` or `type = "redis"`).
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
    /// Where the default SQLite store lives.
    #[arg(long = "state-dir", default_value = ".spin")]
    state_dir: PathBuf,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long = "tls-cert", requires = "tls_key", env = "SPIN_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert", env = "SPIN_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a development certificate for localhost, made on first use under
    /// <state-dir>/tls/ (prints how to trust it).
    #[arg(long = "tls-dev", conflicts_with = "tls_cert")]
    tls_dev: bool,
    /// Build the components first.
    #[arg(long)]
    build: bool,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Wall-clock budget of one request, in milliseconds (504 beyond).
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Instances alive at once: the pool size and the bound on concurrent requests.
    #[arg(long, env = "VANTAGE_MAX_INSTANCES", default_value_t = 256)]
    max_instances: u32,
    /// Linear memory one instance may use, in MiB.
    #[arg(long, default_value_t = 128)]
    max_memory_mb: usize,
    /// Allocate instances on demand instead of from a pool (for small or shared machines).
    #[arg(long)]
    no_pooling: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn manifest_path(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_path_buf()
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VANTAGE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into());
    // Colour only for a person at a terminal; log files and collectors get plain text.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build { from } => {
            let manifest = Manifest::from_file(&manifest_path(&from))?;
            vantage::build::build_all(&manifest)
        }
        Command::Bench(cmd) => vantage::bench::run(cmd),
        Command::GenProfiles(args) => vantage::push::gen_profiles(&args).map(drop),
        Command::Demo(cmd) => vantage::demo::run(cmd),
        Command::Up(args) => {
            init_logs(args.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(up(args))
        }
        Command::Push(args) => {
            let ok = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(vantage::push::run(args))?;
            if !ok {
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest = manifest_path(&args.from);
    if args.build {
        vantage::build::build_all(&Manifest::from_file(&manifest)?)?;
    }
    let opts = AppOptions {
        manifest,
        runtime_config: args.runtime_config_file,
        state_dir: args.state_dir,
        limits: RequestLimits {
            max_body_bytes: args.max_body_bytes,
            timeout: Duration::from_millis(args.request_timeout_ms),
        },
        engine: EngineOptions {
            max_instances: args.max_instances,
            max_memory_bytes: args.max_memory_mb << 20,
            pooling: !args.no_pooling,
            compile_cache: true,
        },
        variables: Default::default(),
        inherit_env: true,
    };
    let app = App::load(&opts).await?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(server::tls_acceptor(c, k)?),
        _ if args.tls_dev => {
            let dev = vantage::devcert::ensure(&opts.state_dir)?;
            println!("{}", vantage::devcert::trust_hint(&dev));
            Some(server::tls_acceptor(&dev.cert, &dev.key)?)
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Serving {scheme}://{addr}");
    println!("Available Routes:");
    for (route, component) in app.routes() {
        println!(
            "  {component}: {scheme}://{addr}{}",
            route.trim_end_matches("/...")
        );
        if route.ends_with("/...") {
            println!("    (wildcard)");
        }
    }
    for (label, backend) in app.store_descriptions() {
        println!("Store {label}: {backend}");
    }
    server::serve(
        app,
        listener,
        tls,
        shutdown_signal(),
        Duration::from_secs(30),
    )
    .await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
