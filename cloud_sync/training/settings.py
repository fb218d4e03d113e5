"""How the job engine runs: leases, retries, how often triggers and leases are checked, write throttles."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lease_s: float = Field(60.0, gt=0, description="a claim lasts this long unless renewed")
    renew_s: float = Field(20.0, gt=0, description="a running job's lease is renewed this often")
    tick_s: int = Field(30, ge=1, le=3600, description="how often triggers and expired leases are checked")
    max_attempts: int = Field(3, ge=1, le=100, description="attempts a job gets, the first included")
    retry_delay_s: float = Field(10.0, ge=0, description="wait before the 2nd attempt; doubles after each")
    retry_max_delay_s: float = Field(600.0, ge=0)
    resend_after_s: float = Field(300.0, gt=0,
                                  description="a job queued this long past its time is sent to the queue again")
    write_every_s: float = Field(1.0, ge=0, description="progress and log lines reach the database this often")
    poll_s: float = Field(2.0, gt=0, description="a worker polls an idle queue at least this often")

    @model_validator(mode="after")
    def _renew_within_lease(self) -> JobSettings:
        if self.renew_s >= self.lease_s:
            raise ValueError(f"renew_s ({self.renew_s}) must be shorter than lease_s ({self.lease_s})")
        return self

    def retry_delay(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1``: exponential, capped."""
        return min(self.retry_delay_s * 2 ** (attempt - 1), self.retry_max_delay_s)
