//! From a policy to what each switch's controller needs: the pipeline to
//! push, the initial rules as P4Runtime updates, and the agent — compiled
//! in-process exactly as `fairshare compile` writes them, so a controller
//! needs nothing but the policy file.

use std::path::PathBuf;
use std::sync::Arc;

use fairshare_alloc::{allocate, Shares, Topology};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use fairshare_policy::model::Policy;

use crate::agent::{Agent, Settings};
use crate::run::Recalc;
use crate::session::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the policy's topology: {0}")]
    Topology(String),
    #[error("compiling the policy: {0}")]
    Compile(String),
    #[error("switch `{0}` is not in the policy")]
    UnknownSwitch(String),
    #[error("switch `{switch}`: {what}: {detail}")]
    Switch {
        switch: String,
        what: &'static str,
        detail: String,
    },
}

/// One switch's part.
#[derive(Debug, Clone)]
pub struct SwitchPlan {
    pub name: String,
    pub device_id: u64,
    pub pipeline: Pipeline,
    pub initial: Vec<p4::Update>,
    pub rules: fairshare_codegen::rules::Rules,
}

/// A compiled policy, ready to run.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub policy: Arc<Policy>,
    pub shares: Shares,
    pub switches: Vec<SwitchPlan>,
}

/// The shares of `policy` by names: `(dc, edge, b/s)`.
///
/// # Errors
/// [`DeployError::Topology`] when the policy's graph does not hold.
pub fn shares_by_name(policy: &Policy) -> Result<Vec<(String, String, u64)>, DeployError> {
    let topo = Topology::build(policy).map_err(|e| DeployError::Topology(e.to_string()))?;
    let shares = allocate(&topo, policy, policy.algorithm);
    Ok(shares
        .routes
        .iter()
        .filter_map(|r| {
            Some((
                policy.datacenters.get(r.dc)?.name.clone(),
                policy.edges.get(r.edge)?.name.clone(),
                r.share,
            ))
        })
        .collect())
}

impl Deployment {
    /// Compiles `policy` for every switch.
    ///
    /// # Errors
    /// [`DeployError`] naming what failed.
    pub fn build(policy: Policy) -> Result<Deployment, DeployError> {
        let topo = Topology::build(&policy).map_err(|e| DeployError::Topology(e.to_string()))?;
        let shares = allocate(&topo, &policy, policy.algorithm);
        let out = fairshare_codegen::compile(&policy, &topo, &shares)
            .map_err(|e| DeployError::Compile(e.to_string()))?;
        let mut switches = Vec::new();
        for sw in &out.switches {
            let fail = |what: &'static str, detail: String| DeployError::Switch {
                switch: sw.name.clone(),
                what,
                detail,
            };
            let pipe = out
                .pipeline_of(&sw.name)
                .ok_or_else(|| fail("pipeline", "none compiled".into()))?;
            let p4info = fairshare_p4rt::text::parse_p4info(&pipe.p4info)
                .map_err(|e| fail("P4Info", e.to_string()))?;
            let pipeline = Pipeline {
                device_config: pipe.json.clone().into_bytes(),
                p4info,
            };
            let initial = initial_updates(&pipeline, &sw.rules_json)
                .map_err(|(what, detail)| fail(what, detail))?;
            let device_id = policy
                .switches()
                .find(|s| s.name == sw.name)
                .map(|s| s.device_id)
                .unwrap_or(0);
            switches.push(SwitchPlan {
                name: sw.name.clone(),
                device_id,
                pipeline,
                initial,
                rules: sw.rules.clone(),
            });
        }
        Ok(Deployment {
            policy: Arc::new(policy),
            shares,
            switches,
        })
    }

    /// Punts RSVP to the controllers at up to `pps` packets per second
    /// committed and twice that at peak, bursts of a tenth and a fifth of a
    /// second's worth — the compiler's ratios around its default of 1,000
    /// packets/s, which caps how many reservations a controller sees.
    pub fn set_punt_rate(&mut self, pps: u64) {
        let pps = i64::try_from(pps.max(1)).unwrap_or(i64::MAX / 2);
        let config = fairshare_p4rt::entity::meter_config(
            pps,
            (pps / 10).max(1),
            pps.saturating_mul(2),
            (pps / 5).max(1),
        );
        for plan in &mut self.switches {
            let Ok(index) = P4InfoIndex::new(plan.pipeline.p4info.clone()) else {
                continue;
            };
            let Some(id) = index.id(fairshare_p4rt::EntityKind::Meter, "Ingress.rsvp_meter") else {
                continue;
            };
            for u in &mut plan.initial {
                if let Some(p4::entity::Entity::MeterEntry(m)) =
                    u.entity.as_mut().and_then(|e| e.entity.as_mut())
                {
                    if m.meter_id == id {
                        m.config = Some(config);
                    }
                }
            }
            for m in &mut plan.rules.meter_configs {
                if m.meter == "Ingress.rsvp_meter" {
                    m.cir = config.cir as u64;
                    m.cburst = config.cburst as u64;
                    m.pir = config.pir as u64;
                    m.pburst = config.pburst as u64;
                }
            }
        }
    }

    pub fn switch(&self, name: &str) -> Result<&SwitchPlan, DeployError> {
        self.switches
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| DeployError::UnknownSwitch(name.to_owned()))
    }

    /// The agent of switch `name`.
    ///
    /// # Errors
    /// [`DeployError::UnknownSwitch`], or the agent's refusal.
    pub fn agent(&self, name: &str, settings: Settings) -> Result<Agent, DeployError> {
        let sw = self.switch(name)?;
        Agent::new(&self.policy, &sw.rules, settings).map_err(|e| DeployError::Switch {
            switch: name.to_owned(),
            what: "agent",
            detail: e.to_string(),
        })
    }
}

/// A switch's `rules.json` as the updates that install it through
/// `pipeline`'s P4Info.
///
/// # Errors
/// What failed, and why.
pub fn initial_updates(
    pipeline: &Pipeline,
    rules_json: &str,
) -> Result<Vec<p4::Update>, (&'static str, String)> {
    let rules =
        fairshare_switch::rules::Rules::parse(rules_json).map_err(|e| ("rules", e.to_string()))?;
    let index = P4InfoIndex::new(pipeline.p4info.clone()).map_err(|e| ("P4Info", e.to_string()))?;
    fairshare_switch_p4rt::rules::updates(&index, &rules).map_err(|e| ("rules", e.to_string()))
}

/// Re-reads `path` and returns the shares when the file changed and checks.
pub fn recalc_from_file(path: PathBuf) -> Recalc {
    let mut last = std::fs::read(&path).ok();
    Box::new(move || {
        let now = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("recalculation: cannot read {}: {e}", path.display());
                return None;
            }
        };
        if last.as_ref() == Some(&now) {
            return None;
        }
        last = Some(now.clone());
        let src = String::from_utf8_lossy(&now);
        match fairshare_policy::load(&src) {
            Ok((_, p)) => match shares_by_name(&p) {
                Ok(s) => {
                    tracing::info!("recalculation: {} changed, re-offering", path.display());
                    Some(s)
                }
                Err(e) => {
                    tracing::error!("recalculation: {}: {e}", path.display());
                    None
                }
            },
            Err(diags) => {
                tracing::error!(
                    "recalculation: {} no longer checks; keeping the shares:\n{}",
                    path.display(),
                    fairshare_policy::render(&diags, &path.display().to_string(), &src)
                );
                None
            }
        }
    })
}
