"""Monitors whose reference is a saved profile file (``reference: {profile: FILE}``).

The file fixes each feature's bins and reference counts; the monitor's features are
matched to it by name. A feature the file lacks, one the file could not fit, or one
whose configured binning keys disagree with the file's is an ``error`` feature of every
run (and a configuration problem for ``driftmon validate``); the other features are
scored as usual.
"""

from __future__ import annotations

import hashlib
import json

from driftmon.config import MonitorConfig
from driftmon.config.profile_reference import ProfileReferenceConfig
from driftmon.core.profile import FeatureProfile, ReferenceProfile
from driftmon.errors import ProfileError
from driftmon.profile_file import (
    ProfileFile,
    binning_mismatch,
    parse_profile,
    profile_bytes,
    reference_of,
)


class ProfileReference:
    """The profile file of one monitor, read once per call of ``read``."""

    def __init__(self, monitor: MonitorConfig, cfg: ProfileReferenceConfig) -> None:
        self.monitor = monitor
        self.path = cfg.profile
        self._raw: bytes | None = None

    def fingerprint(self) -> str:
        """Changes with the file's content and with the monitor's features."""
        self._raw = profile_bytes(self.path)
        features = [
            {"name": f.name, "column": f.source_column, "spec": repr(f.feature_spec())}
            for f in self.monitor.features
        ]
        blob = json.dumps({"features": features}, sort_keys=True).encode()
        return hashlib.sha256(self._raw + b"\0" + blob).hexdigest()

    def profile(self) -> ReferenceProfile:
        """The monitor's reference profile from the file."""
        raw = self._raw if self._raw is not None else profile_bytes(self.path)
        return monitor_reference(parse_profile(raw, self.path), self.monitor, self.path)


def monitor_reference(
    document: ProfileFile, monitor: MonitorConfig, display: str
) -> ReferenceProfile:
    """The profiles of ``monitor``'s features in ``document``; the features that cannot use
    it are errors in the metadata, as for a reference built from data."""
    fitted = reference_of(document)
    file_errors = dict(fitted.metadata.get("feature_errors", {}))
    entries = {e.config.name: e for e in document.features}
    by_name = {f.name: f for f in fitted.features}
    features: list[FeatureProfile] = []
    errors: dict[str, str] = {}
    for feature in monitor.features:
        entry = entries.get(feature.name)
        if entry is None:
            names = ", ".join(entries) or "none"
            errors[feature.name] = f"not in the profile file {display}, which has {names}"
        elif feature.name in file_errors:
            errors[feature.name] = (
                f"the profile file {display} has no bins for this feature: "
                f"{file_errors[feature.name]}"
            )
        elif (mismatch := binning_mismatch(feature, entry.config)) is not None:
            errors[feature.name] = f"profile file {display}: {mismatch}"
        else:
            features.append(by_name[feature.name])
    return ReferenceProfile(
        features=tuple(features),
        rows=document.rows,
        metadata={"feature_errors": errors, "source": f"profile file {display}"},
    )


def profile_problems(monitor: MonitorConfig, cfg: ProfileReferenceConfig) -> list[str]:
    """What ``driftmon validate`` reports about a profile reference: the file cannot be
    read or is malformed, or a feature cannot use it (each a line)."""
    try:
        document = parse_profile(profile_bytes(cfg.profile), cfg.profile)
    except ProfileError as exc:
        return [f"reference profile of monitor {monitor.name!r}: {exc}"]
    reference = monitor_reference(document, monitor, cfg.profile)
    errors = reference.metadata["feature_errors"]
    return [
        f"feature {name!r} of monitor {monitor.name!r}: {message}"
        for name, message in errors.items()
    ]
