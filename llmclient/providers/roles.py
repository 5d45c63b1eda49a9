"""RolePolicy: which message roles a model takes, and what the others become (every adapter's rule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["RolePolicy"]


class RolePolicy:
    """Which message roles a model takes, and what the others become.

    A role outside ``allowed_roles`` becomes ``default_role``; then ``remap_roles``
    renames roles to the provider's own words (e.g. ``{"system": "developer"}``).
    ``allowed_role_metadata`` lists the message metadata keys forwarded (``"all"``).
    """

    def __init__(self, options: Mapping[str, Any], default_allowed: Sequence[str]) -> None:
        self.allowed = tuple(options.get("allowed_roles") or default_allowed)
        default = options.get("default_role")
        self.default = default or ("user" if "user" in self.allowed else self.allowed[0])
        self.remap = dict(options.get("remap_roles") or {})
        metadata = options.get("allowed_role_metadata")
        self.metadata_all = metadata == "all"
        self.metadata_keys = frozenset(metadata) if isinstance(metadata, (list, tuple)) else frozenset()

    def role(self, role: str) -> str:
        """The role to send for a message written with ``role``."""
        if role not in self.allowed:
            role = self.default
        return str(self.remap.get(role, role))

    def metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The message metadata that may be forwarded."""
        if not metadata:
            return {}
        if self.metadata_all:
            return dict(metadata)
        return {k: v for k, v in metadata.items() if k in self.metadata_keys}
