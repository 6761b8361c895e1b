//! `pictor render`.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pictor_gpu::{BlenderDevice, HardwareRequirements};
use pictor_node::render::{render_direct, render_network, Progress, RenderRequest, RenderSummary};
use pictor_node::NetworkSpec;
use pictor_protocol::{Engine, FrameRange};

fn parse_device(s: &str) -> Result<BlenderDevice, String> {
    match s.to_ascii_lowercase().as_str() {
        "cpu" => Ok(BlenderDevice::Cpu),
        "cuda" => Ok(BlenderDevice::Cuda),
        "optix" => Ok(BlenderDevice::Optix),
        other => Err(format!("unknown device {other:?} (cpu, cuda, optix)")),
    }
}

/// Flags of `pictor render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The scene: a glTF 2.0 file (.gltf or .glb) for the built-in engine, or a Blender
    /// file (.blend).
    pub(crate) scene: PathBuf,
    /// The engine: `builtin`, `blender` (Cycles) or `blender-eevee`. Default: `blender`
    /// for .blend scenes, `builtin` otherwise.
    #[arg(long)]
    pub(crate) engine: Option<Engine>,
    /// The device the workers' Blender renders on: `cpu`, `cuda` or `optix` (where
    /// present; Blender's own error names a missing one).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub(crate) blender_device: BlenderDevice,
    /// Frames to render: `1-4` or `7`.
    #[arg(long, default_value = "1")]
    pub(crate) frames: FrameRange,
    /// Where the frames are written (frame-0001.png, ...).
    #[arg(long, default_value = "out")]
    pub(crate) out: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 512)]
    pub(crate) width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 384)]
    pub(crate) height: u32,
    /// Samples per pixel.
    #[arg(long, default_value_t = 32)]
    pub(crate) samples: u32,
    /// Tile size in pixels: each shard is one tile of one frame. Default: 128 for the
    /// built-in engine, 256 for Blender (fewer, larger renders).
    #[arg(long)]
    pub(crate) tile: Option<u32>,
    /// Checkers in the local network.
    #[arg(long, default_value_t = 4)]
    pub(crate) checkers: usize,
    /// Workers in the local network.
    #[arg(long, default_value_t = 3)]
    pub(crate) workers: usize,
    /// How many of the workers falsify some of their outputs (to see them caught).
    #[arg(long, default_value_t = 0)]
    pub(crate) faulty_workers: usize,
    /// How many of the checkers attest without checking (they state the claimed values
    /// as their own), to see them caught.
    #[arg(long, default_value_t = 0)]
    pub(crate) lazy_checkers: usize,
    /// How many of the checkers sign two conflicting votes on each claim they check, to
    /// see them caught.
    #[arg(long, default_value_t = 0)]
    pub(crate) equivocating_checkers: usize,
    /// The fraction of shard attempts (0 to 1) that the local network's workers turn into
    /// canaries: forced errors, revealed once rejected, that catch a checker which
    /// attests without checking even when every worker is honest.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub(crate) canary_rate: f64,
    /// The highest worker price the job accepts, in credits per benchmark-normalised
    /// render-second: workers that ask more get none of its shards (0: no cap).
    #[arg(long, default_value_t = 0)]
    pub(crate) price_cap: u64,
    /// The local network's worker prices, worker by worker (`1,100`; missing ones: 0).
    #[arg(long, value_delimiter = ',', value_name = "PRICES")]
    pub(crate) worker_prices: Vec<u64>,
    /// Render in this process with no network: the baseline.
    #[arg(long)]
    pub(crate) direct: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Give up after this many seconds without progress.
    #[arg(long, default_value_t = 600)]
    pub(crate) stall_timeout: u64,
    /// A network spec (TOML) whose `[requirements]` the local network asks of its workers;
    /// a worker that falls short is refused, with the reason in one line.
    #[arg(long, value_name = "FILE")]
    pub(crate) network_spec: Option<PathBuf>,
    /// Submit to a running network (for example `pictor devnet up`'s `DIR/network.toml`)
    /// instead of starting a local one: this command joins it as a creator peer.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["direct", "network_spec"])]
    pub(crate) network: Option<PathBuf>,
    /// With `--network`: the creator's home (its key and database), so that its jobs
    /// outlive this command; default: a temporary home.
    #[arg(long, value_name = "DIR", requires = "network")]
    pub(crate) home: Option<PathBuf>,
}

impl RenderArgs {
    pub(crate) fn request(&self) -> Result<RenderRequest> {
        if self.checkers == 0 {
            bail!("--checkers must be at least 1");
        }
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        if self.faulty_workers >= self.workers {
            bail!(
                "--faulty-workers {} must be fewer than --workers {}",
                self.faulty_workers,
                self.workers
            );
        }
        if !(0.0..=1.0).contains(&self.canary_rate) {
            bail!(
                "--canary-rate must be a fraction from 0 to 1, got {}",
                self.canary_rate
            );
        }
        if self.canary_rate > 0.0 && (self.direct || self.network.is_some()) {
            bail!("--canary-rate needs the local network (a running network's spec sets its own canary_rate_ppm)");
        }
        if !self.worker_prices.is_empty() && (self.direct || self.network.is_some()) {
            bail!("--worker-prices needs the local network (a running network's workers set their own price in config.toml)");
        }
        if self.worker_prices.len() > self.workers {
            bail!(
                "--worker-prices names {} prices for --workers {}",
                self.worker_prices.len(),
                self.workers
            );
        }
        if self.price_cap > 0
            && self.worker_prices.len() == self.workers
            && self.worker_prices.iter().all(|&p| p > self.price_cap)
        {
            bail!(
                "--price-cap {} is below every worker's price ({:?}): no worker would get a shard",
                self.price_cap,
                self.worker_prices
            );
        }
        let faulty_checkers = self.lazy_checkers + self.equivocating_checkers;
        if faulty_checkers > 0 && (self.direct || self.network.is_some()) {
            bail!("--lazy-checkers and --equivocating-checkers need the local network (not --direct or --network)");
        }
        if 3 * faulty_checkers >= self.checkers {
            bail!(
                "{faulty_checkers} faulty checkers of {} is too many: the network is safe with fewer than a third (for example --checkers {})",
                self.checkers,
                3 * faulty_checkers + 1
            );
        }
        let is_blend = self
            .scene
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("blend"));
        let engine = self.engine.unwrap_or(if is_blend {
            Engine::Blender
        } else {
            Engine::Builtin
        });
        if engine.is_blender() != is_blend {
            bail!(
                "the {engine} engine cannot render {}: use a .blend scene for Blender and a .gltf/.glb scene for the built-in engine",
                self.scene.display()
            );
        }
        let requirements = match &self.network_spec {
            Some(path) => NetworkSpec::load_named(path)?.requirements,
            None => HardwareRequirements::default(),
        };
        let tile = self
            .tile
            .unwrap_or(if engine.is_blender() { 256 } else { 128 });
        Ok(RenderRequest {
            scene: self.scene.clone(),
            engine,
            blender_device: self.blender_device,
            frames: self.frames,
            width: self.width,
            height: self.height,
            samples: self.samples,
            tile,
            out: self.out.clone(),
            checkers: self.checkers,
            workers: self.workers,
            faulty_workers: self.faulty_workers,
            lazy_checkers: self.lazy_checkers,
            equivocating_checkers: self.equivocating_checkers,
            canary_rate_ppm: (self.canary_rate * f64::from(pictor_protocol::canary::PPM)).round()
                as u32,
            stall_timeout: Duration::from_secs(self.stall_timeout.max(1)),
            requirements,
            network: self.network.clone(),
            home: self.home.clone(),
            price_cap: self.price_cap,
            worker_prices: self.worker_prices.clone(),
        })
    }
}

fn progress_bar(hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:32} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub(crate) fn run(args: RenderArgs) -> Result<()> {
    let request = args.request()?;
    let bar = progress_bar(args.json);
    let mut total = 0;
    let on_progress = |p: Progress| match p {
        Progress::Submitted { shards } => {
            total = shards;
            bar.set_length(shards);
            bar.set_message(format!("0/{shards} rendered, 0/{shards} verified"));
        }
        Progress::Shards { rendered, verified } => {
            bar.set_position(verified);
            bar.set_message(format!(
                "{rendered}/{total} rendered, {verified}/{total} verified"
            ));
        }
        Progress::Rejected { shard, worker } => {
            bar.println(format!(
                "claim rejected by quorum: shard {shard} from worker {worker}; rendering it again elsewhere"
            ));
        }
        Progress::FrameWritten { path } => {
            bar.println(format!("wrote {}", path.display()));
        }
    };
    let summary = if args.direct {
        render_direct(&request, on_progress)
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(render_network(&request, on_progress))
    };
    bar.finish_and_clear();
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

pub(crate) fn print_summary(s: &RenderSummary) {
    println!("render complete ({})", s.mode);
    println!("  scene        {} ({} engine)", s.scene, s.engine);
    println!(
        "  image        {}x{}, {} samples/pixel, tiles of {}",
        s.width, s.height, s.samples, s.tile
    );
    println!("  frames       {}", s.frames.len());
    for (i, f) in s.frames.iter().enumerate() {
        match s.frame_cids.get(i) {
            Some(cid) => println!("               {}  ipfs://{cid}", f.display()),
            None => println!("               {}", f.display()),
        }
    }
    if !s.job_id.is_empty() {
        println!("  job          {}", s.job_id);
    }
    println!("  shards       {}", s.shards);
    if s.mode == "network" {
        println!(
            "  checkers     {} (committee of {})",
            s.checkers, s.committee_size
        );
        println!("  workers      accepted  rejected  canaries");
        for (worker, tally) in &s.workers {
            println!(
                "    {worker}   {:>8}  {:>8}  {:>8}",
                tally.accepted, tally.rejected, tally.canaries
            );
        }
        println!("  claims rejected   {}", s.claims_rejected);
        if !s.checker_report.is_empty() {
            println!("  checkers     status     behaviour     found");
            for c in &s.checker_report {
                let found = if c.findings.is_empty() && !c.on_committee {
                    "nothing (not on this job's committee: it attested nothing)".to_owned()
                } else if c.findings.is_empty() {
                    "nothing".to_owned()
                } else {
                    c.findings.join("; ")
                };
                println!(
                    "    {}   {:<9}  {:<12}  {found}",
                    c.key,
                    c.status.as_str(),
                    c.behaviour
                );
            }
        }
        println!(
            "  verification      {} attestations, {} pixels re-rendered of {} ({:.3} %), at most {:.2} % of any shard",
            s.attestations,
            s.pixels_rerendered,
            s.pixels_rendered,
            100.0 * s.pixels_rerendered as f64 / (s.pixels_rendered.max(1)) as f64,
            100.0 * s.max_shard_fraction_rerendered
        );
        if s.engine.is_bit_exact() {
            println!(
                "  detection         {} pixels per checker, compared exactly; a claim with 10 % of its pixels falsified is caught with probability {:.6}",
                s.samples_per_checker, s.detection_probability
            );
        } else {
            println!(
                "  detection         {} regions of 4x4 per checker, compared by PSNR and SSIM; a claim with 10 % of its regions falsified is caught with probability {:.6}",
                s.samples_per_checker, s.detection_probability
            );
        }
    }
    println!("  wall time    {:.2} s", s.wall_seconds);
}
