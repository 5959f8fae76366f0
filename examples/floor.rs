//! The benchmark's baselines, for `bench/run`:
//!
//! - the **floor**: a bare axum server answering the token routes with fixed bodies, no database
//!   (the HTTP stack alone);
//! - with `--database URL`, the **select** and **insert** baselines: the same routes doing the
//!   least database work each request can cost, on the database Tessera runs on, through the
//!   same driver (sqlx `Any`) with a pool of the same size: `HEAD/GET /token/{t}` is one
//!   primary-key select, `POST /token` one single-row insert (serialised on SQLite, as Tessera's
//!   writes are);
//! - with `--hash-time N`, the time of one Argon2id verification with Tessera's own parameters
//!   (its `PasswordHasher`), printed as JSON: the hash ceiling of logins is cores ÷ that time.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::{
    extract::{Path, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use clap::Parser;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use tessera::domain::password::PasswordHasher;
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9498")]
    listen: String,
    /// Serve the select and insert baselines on this database (a `postgres://` or `sqlite://`
    /// URL; the SQLite file is created). The floor's tables are created in it.
    #[arg(long, env = "FLOOR_DATABASE_URL")]
    database: Option<String>,
    /// Access tokens, one a line, stored in the select baseline's table at start.
    #[arg(long, requires = "database")]
    tokens: Option<std::path::PathBuf>,
    /// Database connections; default: Tessera's pool size for this database.
    #[arg(long)]
    pool: Option<u32>,
    /// Time N Argon2id verifications with Tessera's parameters, print the median wall and CPU
    /// times of one as JSON and exit.
    #[arg(long, value_name = "N")]
    hash_time: Option<usize>,
}

/// Roughly the ACL of the bench user's 20-entry policy: the size of what a token row holds
/// and a token response returns.
fn bench_acl() -> Vec<String> {
    (0..8)
        .map(|i| format!("bench.service{i}.*.read"))
        .chain((0..5).map(|i| format!("confd.users.{i}.#")))
        .chain(
            [
                "auth.users.me.tokens.#",
                "auth.users.me.sessions.*",
                "calld.calls.me.#",
                "!bench.secret.#",
                "dird.directories.lookup.*.me",
                "chatd.users.me.#",
                "bench.service19.items.read",
            ]
            .map(String::from),
        )
        .collect()
}

/// HEAD answers 204 like Tessera's validation; GET a tiny JSON description.
async fn validate(method: Method) -> Response {
    if method == Method::HEAD {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(json!({"data": {"token": "floor", "acl": ["#"]}})).into_response()
    }
}

async fn create() -> Json<Value> {
    Json(json!({"data": {"token": "floor", "acl": ["#"]}}))
}

struct Db {
    pool: AnyPool,
    /// SQLite only: one writer at a time, as Tessera's store does.
    write_lock: Option<Mutex<()>>,
    acl: String,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn server_error(error: sqlx::Error) -> Response {
    eprintln!("floor: {error}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// The select baseline: one primary-key select of the token's digest, as Tessera's validation
/// reads it (204 when found, 404 when not; GET returns the row).
async fn select(State(db): State<Arc<Db>>, Path(token): Path<String>, method: Method) -> Response {
    let row = sqlx::query("SELECT acl FROM floor_tokens WHERE digest = $1")
        .bind(Sha256::digest(token.as_bytes()).to_vec())
        .fetch_optional(&db.pool)
        .await;
    match row {
        Err(error) => server_error(error),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Ok(Some(_)) if method == Method::HEAD => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(row)) => match row.try_get::<String, _>("acl") {
            Ok(acl) => {
                let acl: Value = serde_json::from_str(&acl).unwrap_or_default();
                Json(json!({"data": {"token": token, "acl": acl}})).into_response()
            }
            Err(error) => server_error(error),
        },
    }
}

#[derive(serde::Deserialize)]
struct GrantBody {
    client_id: Option<String>,
    expiration: Option<i64>,
}

/// The insert baseline: one single-row insert of a new token-sized row (a 32-byte key, the
/// client id, times and the ACL), answered with a token-sized body.
async fn insert(State(db): State<Arc<Db>>, Json(body): Json<GrantBody>) -> Response {
    let token = uuid::Uuid::new_v4().to_string();
    let now = now_micros();
    let expires_at = now.saturating_add(body.expiration.unwrap_or(3600).saturating_mul(1_000_000));
    let _turn = match &db.write_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let inserted = sqlx::query(
        "INSERT INTO floor_grants (digest, client_id, issued_at, expires_at, acl) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Sha256::digest(token.as_bytes()).to_vec())
    .bind(body.client_id.clone().unwrap_or_default())
    .bind(now)
    .bind(expires_at)
    .bind(&db.acl)
    .execute(&db.pool)
    .await;
    match inserted {
        Err(error) => server_error(error),
        Ok(_) => Json(json!({"data": {
            "token": token, "acl": bench_acl(), "issued_at": now, "expires_at": expires_at,
            "client_id": body.client_id,
        }}))
        .into_response(),
    }
}

/// Connects as Tessera's store does (same pool size, same SQLite pragmas; but no ping before each
/// use), creates the floor's tables and stores the tokens of `tokens`.
async fn connect(
    url: &str,
    pool: Option<u32>,
    tokens: Option<&std::path::Path>,
) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let url = if sqlite && !url.contains("mode=") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_string()
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    // As src/store/mod.rs sizes Tessera's pool.
    let size = pool.unwrap_or(if sqlite {
        (cores * 2).max(4)
    } else {
        (cores * 4).max(8)
    });
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        // No ping before each use (sqlx's default): one statement, one round trip.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(AnyConnectOptions::from_str(&url)?)
        .await?;
    // BYTEA is PostgreSQL's bytes type; SQLite takes any type name (and stores a blob).
    pool.execute(
        "CREATE TABLE IF NOT EXISTS floor_tokens (digest BYTEA PRIMARY KEY, acl TEXT NOT NULL)",
    )
    .await?;
    pool.execute(
        "CREATE TABLE IF NOT EXISTS floor_grants (digest BYTEA PRIMARY KEY, client_id TEXT NOT NULL, \
         issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, acl TEXT NOT NULL)",
    )
    .await?;
    let acl = serde_json::to_string(&bench_acl())?;
    if let Some(path) = tokens {
        let mut tx = pool.begin().await?;
        for token in std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.is_empty())
        {
            sqlx::query(
                "INSERT INTO floor_tokens (digest, acl) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(Sha256::digest(token.as_bytes()).to_vec())
            .bind(&acl)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    println!("floor: {size} database connections");
    Ok(Db {
        pool,
        write_lock: sqlite.then(|| Mutex::new(())),
        acl,
    })
}

/// CPU time the hashing thread (Tessera names it `argon2-0`) has run, from the kernel's
/// scheduler statistics: unlike wall time, it does not grow when other processes share the cores.
fn hashing_thread_cpu() -> Option<Duration> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim() != "argon2-0" {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            stat.split_whitespace()
                .next()?
                .parse()
                .ok()
                .map(Duration::from_nanos)
        })
}

fn median_ms(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// `count` verifications, one after the other, on one of Tessera's hashing threads: the median
/// wall time of one, and the median CPU time of one (Linux; absent elsewhere).
async fn hash_time(count: usize) -> anyhow::Result<()> {
    let hasher = PasswordHasher::with_pool(1, 1)?;
    let password = "floor-hash-time-password";
    let hash = hasher.hash(password).await?;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..count.max(1) {
        let (started, cpu_before) = (Instant::now(), hashing_thread_cpu());
        if !hasher.verify(password, Some(&hash)).await? {
            anyhow::bail!("the verification failed");
        }
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        if let (Some(before), Some(after)) = (cpu_before, hashing_thread_cpu()) {
            cpu.push(after.saturating_sub(before).as_secs_f64() * 1000.0);
        }
    }
    let cpu_ms = (!cpu.is_empty()).then(|| median_ms(cpu));
    println!(
        "{}",
        json!({"count": wall.len(), "wall_ms": median_ms(wall), "cpu_ms": cpu_ms})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(count) = args.hash_time {
        return hash_time(count).await;
    }
    let app = match &args.database {
        None => Router::new()
            .route("/api/auth/0.1/token/{token}", get(validate))
            .route("/api/auth/0.1/token", post(create)),
        Some(url) => Router::new()
            .route("/api/auth/0.1/token/{token}", get(select))
            .route("/api/auth/0.1/token", post(insert))
            .with_state(Arc::new(
                connect(url, args.pool, args.tokens.as_deref()).await?,
            )),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
