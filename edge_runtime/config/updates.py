"""The ``updates:`` section: how the update agent fetches, tries and, when it must, undoes model versions.

The agent polls the cloud's desired state and reports over the same signed
channel as the sync agent (``sync.url`` and the device credential), so it runs
only when ``sync`` is enabled too. Rollback needs no cloud: the policy here
decides on the device when a newly switched-in model is undone.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from .base import ConfigError, StrictModel


class RollbackPolicy(StrictModel):
    """When the device undoes a switch by itself, while it watches the new model."""

    crash_loop_crashes: int = Field(3, ge=1, description="This many crashes of the new model ...")
    crash_loop_window_s: float = Field(60.0, gt=0, description="... within this many seconds are a crash loop")
    boot_loop_boots: int = Field(
        3, ge=1, description="Daemon starts that follow an unclean end while a new model is watched, "
        "within boot_loop_window_s, that make the next start boot the previous model",
    )
    boot_loop_window_s: float = Field(900.0, gt=0, description="Window of boot_loop_boots")
    latency_budget_ms: float | None = Field(
        None, gt=0, description="Inference p95 above this rolls back, when the desired state sets no budget "
        "(null: no default budget)",
    )
    watch_s: float | None = Field(
        None, ge=0,
        description="How long a new model is watched, overriding the desired state's watch_s (null: the cloud's)",
    )
    health_every_s: float = Field(1.0, gt=0, le=10, description="How often the watched slot's health is read")


class UpdateSettings(StrictModel):
    """Model updates from the cloud: download, verification, shadow run, switch, watch and rollback."""

    enabled: bool = Field(
        False, description="Run the update agent (needs sync.enabled: it uses sync.url and the credential)")
    poll_interval_s: float = Field(60.0, gt=0, description="How often the desired state is fetched")
    report_interval_s: float = Field(
        60.0, gt=0, le=86400, description="How often what runs is reported, until the desired state says otherwise",
    )
    models_dir: Path | None = Field(
        None, description="Where installed packages and partial downloads live (default: 'models' beside the database)",
    )
    bandwidth_bytes_per_s: int | None = Field(
        None, gt=0, description="Cap on package download bytes per second, averaged (null: unlimited)",
    )
    request_timeout_s: float = Field(30.0, gt=0, description="A desired-state or report request not answered "
                                     "within this, or a download silent this long, is a failure")
    download_retries: int = Field(5, ge=0, le=100, description="Retries of a failed download before it waits for "
                                  "the next poll (the partial file is kept and resumed)")
    retry_initial_s: float = Field(1.0, gt=0, description="First delay after a failed request (doubles, with jitter)")
    retry_max_s: float = Field(60.0, gt=0, description="Longest delay between failed requests")
    memory_headroom_mb: float = Field(
        256.0, ge=0, description="Memory kept free for everything else: a model larger than the available memory "
        "minus this is refused",
    )
    max_package_bytes: int = Field(
        1 << 30, gt=0, description="A package (archive, or its extracted files) larger than this is refused",
    )
    max_shadow_s: float = Field(600.0, ge=0, description="Longest shadow run, whatever the desired state asks")
    rollback: RollbackPolicy = Field(RollbackPolicy(), description="When the device undoes a switch by itself")

    @model_validator(mode="after")
    def _retry(self) -> UpdateSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ConfigError([("retry_max_s", "must be at least retry_initial_s")])
        return self

    def models_path(self, db_path: Path) -> Path:
        """The models directory: the configured one, else ``models`` beside the database."""
        return self.models_dir if self.models_dir is not None else Path(db_path).parent / "models"
