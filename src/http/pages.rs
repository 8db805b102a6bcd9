//! What the HTTP server answers, from a snapshot of the supervisor: `/` (a
//! page for people that refreshes its table in place, no external assets),
//! `/status` (the JSON of `rinit status --json`), `/readyz` and `/healthz`
//! (`rinit status`'s meaning), `/livez`, and `/metrics` (Prometheus text
//! exposition 0.0.4). Nothing here can change anything.

use std::fmt::Write;
use std::time::Duration;

use crate::control::{json, uptime, Generation, InstanceStatus};

/// Every state `rinit status` shows, for the `rinit_program_state` series.
pub const STATES: [&str; 10] = [
    "starting",
    "running",
    "ready",
    "backoff",
    "stopping",
    "stopped",
    "exited",
    "done",
    "failed",
    "unhealthy",
];

/// One instance as the pages show it.
pub struct InstanceView {
    pub status: InstanceStatus,
    /// Its program's name (the `program` label).
    pub program: String,
    /// Its last exit as a number: the exit code, or 128+N after signal N.
    pub last_exit_code: Option<i32>,
    /// With a schedule: its runs.
    pub runs: Option<RunsView>,
}

/// A scheduled instance's runs, for /metrics (times in seconds since the epoch).
pub struct RunsView {
    pub next_run: Option<i64>,
    /// When its last run succeeded; before any success, when rinit started.
    pub last_success: i64,
    /// Runs by outcome, as `OUTCOMES` names them.
    pub by_outcome: [u64; 5],
}

/// The outcomes of scheduled runs, as the `outcome` label names them.
pub const OUTCOMES: [&str; 5] = ["success", "failure", "timeout", "replaced", "skipped"];

/// The supervisor as the pages show it.
pub struct Snapshot {
    pub instances: Vec<InstanceView>,
    /// How long rinit has run.
    pub uptime: Duration,
    /// Processes reaped, children and orphans alike.
    pub reaped: u64,
    /// Signals passed on to programs (each program counted).
    pub forwarded: u64,
    /// While rinit drains: how long until it stops the programs.
    pub draining: Option<Duration>,
    /// The configuration's generation and when it was loaded.
    pub generation: Generation,
    /// Reloads by outcome (applied, invalid, refused).
    pub reloads: [u64; 3],
}

/// An answer: status line, content type, body.
pub struct Page {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

const TEXT: &str = "text/plain; charset=utf-8";

/// The page for `path`.
pub fn page(path: &str, snapshot: &Snapshot) -> Page {
    let ok = |content_type, body| Page {
        status: "200 OK",
        content_type,
        body,
    };
    match path {
        "/" => ok("text/html; charset=utf-8", html(snapshot)),
        "/status" => ok("application/json", status_json(snapshot)),
        "/readyz" | "/healthz" => match snapshot.draining {
            // Not ready, whatever the programs: load balancers move away.
            Some(left) => Page {
                status: "503 Service Unavailable",
                content_type: TEXT,
                body: format!(
                    "draining: rinit stops the programs in {}\n",
                    uptime(left.as_millis() as u64)
                ),
            },
            None => probe(snapshot, |s| !s.critical || s.ready, "not ready"),
        },
        "/livez" => probe(
            snapshot,
            |s| !s.critical || !matches!(s.state.as_str(), "failed" | "unhealthy"),
            "not live",
        ),
        "/metrics" => ok("text/plain; version=0.0.4; charset=utf-8", metrics(snapshot)),
        _ => Page {
            status: "404 Not Found",
            content_type: TEXT,
            body: "not found: try /, /status, /readyz, /livez or /metrics\n".into(),
        },
    }
}

fn status_json(snapshot: &Snapshot) -> String {
    let statuses: Vec<InstanceStatus> = snapshot.instances.iter().map(|v| v.status.clone()).collect();
    json(&statuses, Some(snapshot.generation))
}

/// 200 "ok" when every instance passes `passes`, else 503 naming the others.
fn probe(snapshot: &Snapshot, passes: impl Fn(&InstanceStatus) -> bool, what: &str) -> Page {
    let failing: Vec<String> = snapshot
        .instances
        .iter()
        .filter(|v| !passes(&v.status))
        .map(|v| format!("{} ({})", v.status.name, v.status.state))
        .collect();
    match failing.is_empty() {
        true => Page {
            status: "200 OK",
            content_type: TEXT,
            body: "ok\n".into(),
        },
        false => Page {
            status: "503 Service Unavailable",
            content_type: TEXT,
            body: format!("{what}: {}\n", failing.join(", ")),
        },
    }
}

/// rinit's own metrics: name, type, help.
const OWN_FAMILIES: [(&str, &str, &str); 8] = [
    ("rinit_build_info", "gauge", "rinit's version, as a label."),
    ("rinit_uptime_seconds", "gauge", "How long rinit has run."),
    (
        "rinit_zombies_reaped_total",
        "counter",
        "Processes rinit has reaped, its programs' and orphans alike.",
    ),
    (
        "rinit_signals_forwarded_total",
        "counter",
        "Signals rinit passed on to programs, one per program.",
    ),
    (
        "rinit_draining",
        "gauge",
        "1 while rinit drains after SIGTERM ([rinit] drain): /readyz answers 503.",
    ),
    (
        "rinit_config_generation",
        "gauge",
        "The configuration's generation: 1 at start, one more for each reload applied.",
    ),
    (
        "rinit_config_loaded_timestamp_seconds",
        "gauge",
        "When the running configuration was loaded.",
    ),
    (
        "rinit_config_reloads_total",
        "counter",
        "rinit reload requests, by outcome (applied; invalid: the configuration had errors; refused: during shutdown or another reload).",
    ),
];

/// Each instance's metrics: name, type, help. The last three only for
/// instances with a schedule.
const INSTANCE_FAMILIES: [(&str, &str, &str); 9] = [
    (
        "rinit_program_up",
        "gauge",
        "1 while the instance has a running process.",
    ),
    (
        "rinit_program_ready",
        "gauge",
        "1 while the instance is ready (a oneshot: done), as rinit status counts it.",
    ),
    (
        "rinit_program_state",
        "gauge",
        "1 for the instance's state, 0 for the others.",
    ),
    (
        "rinit_program_restarts_total",
        "counter",
        "Times the instance was started again.",
    ),
    (
        "rinit_program_last_exit_code",
        "gauge",
        "The instance's last exit: its code, or 128+N after signal N.",
    ),
    (
        "rinit_program_uptime_seconds",
        "gauge",
        "How long the instance's current run has lasted (0 when down).",
    ),
    (
        "rinit_program_next_run_timestamp_seconds",
        "gauge",
        "When the scheduled program runs next (absent while it is stopped).",
    ),
    (
        "rinit_program_last_success_timestamp_seconds",
        "gauge",
        "When the scheduled program's last successful run ended (before any, when rinit started).",
    ),
    (
        "rinit_program_runs_total",
        "counter",
        "The scheduled program's runs, by outcome (skipped: not run, the one before still ran).",
    ),
];

/// Prometheus's text format: rinit's own counts, then each instance's.
fn metrics(snapshot: &Snapshot) -> String {
    let capacity = snapshot.instances.len().saturating_mul(300);
    let mut text = String::with_capacity(capacity.saturating_add(1024));
    let values = [
        format!("{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        format!(" {:.3}", snapshot.uptime.as_secs_f64()),
        format!(" {}", snapshot.reaped),
        format!(" {}", snapshot.forwarded),
        format!(" {}", u8::from(snapshot.draining.is_some())),
        format!(" {}", snapshot.generation.number),
        format!(" {}", snapshot.generation.loaded_at),
        crate::control::RELOAD_OUTCOMES
            .iter()
            .zip(snapshot.reloads)
            .enumerate()
            .map(|(n, (outcome, count))| {
                let name = if n == 0 { "" } else { "rinit_config_reloads_total" };
                format!("{name}{{outcome=\"{outcome}\"}} {count}\n")
            })
            .collect::<String>()
            .trim_end()
            .to_string(),
    ];
    for ((name, kind, help), value) in OWN_FAMILIES.into_iter().zip(values) {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{value}\n"
        );
    }
    let labels: Vec<String> = snapshot
        .instances
        .iter()
        .map(|v| {
            format!(
                "program=\"{}\",instance=\"{}\"",
                label(&v.program),
                label(&v.status.name)
            )
        })
        .collect();
    for (name, kind, help) in INSTANCE_FAMILIES {
        let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (view, labels) in snapshot.instances.iter().zip(&labels) {
            let _ = sample(&mut text, name, view, labels);
        }
    }
    text
}

/// One instance's sample(s) of the family `name`.
fn sample(text: &mut String, name: &str, view: &InstanceView, labels: &str) -> std::fmt::Result {
    let s = &view.status;
    match name {
        "rinit_program_up" => writeln!(text, "{name}{{{labels}}} {}", u8::from(s.pid.is_some())),
        "rinit_program_ready" => writeln!(text, "{name}{{{labels}}} {}", u8::from(s.ready)),
        "rinit_program_state" => STATES.iter().try_for_each(|state| {
            writeln!(
                text,
                "{name}{{{labels},state=\"{state}\"}} {}",
                u8::from(s.state == *state)
            )
        }),
        "rinit_program_restarts_total" => writeln!(text, "{name}{{{labels}}} {}", s.restarts),
        "rinit_program_last_exit_code" => match view.last_exit_code {
            Some(code) => writeln!(text, "{name}{{{labels}}} {code}"),
            None => Ok(()),
        },
        "rinit_program_next_run_timestamp_seconds" => match view.runs.as_ref().and_then(|r| r.next_run) {
            Some(at) => writeln!(text, "{name}{{{labels}}} {at}"),
            None => Ok(()),
        },
        "rinit_program_last_success_timestamp_seconds" => match &view.runs {
            Some(runs) => writeln!(text, "{name}{{{labels}}} {}", runs.last_success),
            None => Ok(()),
        },
        "rinit_program_runs_total" => match &view.runs {
            Some(runs) => OUTCOMES
                .iter()
                .zip(runs.by_outcome)
                .try_for_each(|(outcome, count)| {
                    writeln!(text, "{name}{{{labels},outcome=\"{outcome}\"}} {count}")
                }),
            None => Ok(()),
        },
        _ => writeln!(
            text,
            "{name}{{{labels}}} {:.3}",
            s.uptime_ms.unwrap_or(0) as f64 / 1000.0
        ),
    }
}

/// A label value: `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    if !value.contains(['\\', '"', '\n']) {
        return value.to_string();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `text` for HTML.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '&' => out += "&amp;",
            '"' => out += "&quot;",
            c => out.push(c),
        }
    }
    out
}

/// The table's rows, as the page's script also makes them.
fn rows(snapshot: &Snapshot) -> String {
    let mut rows = String::new();
    for view in &snapshot.instances {
        let s = &view.status;
        let _ = write!(
            rows,
            "<tr class=\"{state}\"><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escaped(&s.name),
            s.pid.map_or("-".into(), |p| p.to_string()),
            s.uptime_ms.map_or("-".into(), uptime),
            s.restarts,
            escaped(s.last_exit.as_deref().unwrap_or("-")),
            escaped(s.next_run.as_deref().unwrap_or("")),
            state = s.state,
        );
    }
    rows
}

fn html(snapshot: &Snapshot) -> String {
    let generation = format!(
        "configuration generation {}, loaded {}",
        snapshot.generation.number,
        snapshot.generation.loaded()
    );
    PAGE.replace("@ROWS@", &rows(snapshot))
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@GENERATION@", &generation)
}

/// The status page: one table, refreshed from /status every 2 s by the
/// script, which builds the rows as `rows` does.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>rinit</title><link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:.3em .9em;text-align:left;border-bottom:1px solid #ddd;white-space:nowrap}
th{font-weight:600}td:nth-child(n+3){font-variant-numeric:tabular-nums}
td:nth-child(2){color:var(--c);font-weight:var(--w)}.ready,.done{--c:#17803d}.running,.starting,.stopping{--c:#a15c00}
.failed,.unhealthy,.backoff{--c:#c4261d;--w:600}
#note{color:#777;margin-top:1em}
</style></head><body>
<h1>rinit</h1>
<table><thead><tr><th>NAME</th><th>STATE</th><th>PID</th><th>UPTIME</th><th>RESTARTS</th><th>LAST EXIT</th><th>NEXT RUN</th></tr></thead>
<tbody id="rows">@ROWS@</tbody></table>
<p id="note">rinit @VERSION@ · <span id="generation">@GENERATION@</span> · read-only · <a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
<script>
function up(ms){var s=Math.floor(ms/1000);if(s<1)return ms+"ms";if(s<60)return s+"s";
var p=function(n){return(n<10?"0":"")+n};if(s<3600)return Math.floor(s/60)+"m"+p(s%60)+"s";
if(s<86400)return Math.floor(s/3600)+"h"+p(Math.floor(s%3600/60))+"m";return Math.floor(s/86400)+"d"+p(Math.floor(s%86400/3600))+"h"}
function cell(tr,text){var td=document.createElement("td");td.textContent=text;tr.appendChild(td)}
function refresh(){fetch("/status",{cache:"no-store"}).then(function(r){return r.json()}).then(function(list){
var body=document.createElement("tbody");body.id="rows";list.forEach(function(s){var tr=document.createElement("tr");
tr.className=s.state;cell(tr,s.name);cell(tr,s.state);cell(tr,s.pid==null?"-":s.pid);
cell(tr,s.uptime_ms==null?"-":up(s.uptime_ms));cell(tr,s.restarts);cell(tr,s.last_exit==null?"-":s.last_exit);
cell(tr,s.next_run==null?"":s.next_run);body.appendChild(tr)});
if(list.length)document.getElementById("generation").textContent="configuration generation "+list[0].generation+", loaded "+list[0].loaded;
document.getElementById("rows").replaceWith(body);document.getElementById("note").style.color="#777"}).catch(function(){
document.getElementById("note").style.color="#c4261d"})}
setInterval(refresh,2000);
</script></body></html>
"##;
