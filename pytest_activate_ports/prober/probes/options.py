"""Typed, validating access to a probe's options as written in the spec.

Probes read their options through :class:`ProbeOptions` so that every probe
reports bad input the same way: an :class:`OptionError` naming the key, which
the spec validator turns into ``spec.yaml:LINE:COL: message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ...suggest import did_you_mean, one_of
from .material import MaterialError, Pem, read_ca


class OptionError(ValueError):
    """A probe option is missing, unknown or of the wrong type."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class ProbeOptions:
    """The options of one probe, consumed key by key; :meth:`finish` rejects leftovers."""

    def __init__(self, kind: str, values: Mapping[str, object], base: Path | None = None,
                 files: Mapping[str, Pem] | None = None) -> None:
        """``base`` is the folder of the spec file the options are written in; ``files`` the contents of the
        files they name, as read on the pytest side (a prober has no spec folder)."""
        self.kind = kind
        self.values = dict(values)
        self._known: set[str] = set()
        self._base = base
        self._carried = files
        self.files: dict[str, Pem] = {}  # option -> the contents of the file it names, as read

    def _get(self, key: str) -> object | None:
        self._known.add(key)
        return self.values.get(key)

    def _wrong(self, key: str, wanted: str, value: object) -> OptionError:
        return OptionError(key, f"probe {self.kind}: {key!r} must be {wanted}, not {value!r}")

    def text(self, key: str, default: str | None = None) -> str | None:
        """A string option (numbers are accepted and turned into text)."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise self._wrong(key, "a string", value)

    def certificates(self, key: str) -> Pem | None:
        """The certificates of a PEM file named relative to the spec's folder (as ``tls:`` paths are)."""
        text = self.text(key)
        if text is None:
            return None
        if self._carried is not None:
            self.files[key] = self._carried[key]
            return self.files[key]
        try:
            self.files[key] = read_ca(self._base / text if self._base is not None else Path(text))
        except MaterialError as exc:
            raise OptionError(key, f"probe {self.kind}: {key!r}: {exc}") from None
        return self.files[key]

    def request_path(self, key: str = "path", default: str = "/") -> str:
        """An HTTP request path, validated when the spec is loaded rather than on the wire."""
        path = self.text(key)
        if path is None:
            return default
        if not path.startswith("/") or any(c in path for c in "\r\n "):
            raise OptionError(key, f"probe {self.kind}: {key!r} must be a path starting with '/', not {path!r}")
        return path

    def integer(self, key: str, default: int, low: int | None = None, high: int | None = None) -> int:
        """An integer option within ``[low, high]``."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(key, "an integer", value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(key, f"probe {self.kind}: {key!r} must be in {low}..{high}, not {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A boolean option."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return value

    def integers(self, key: str, default: frozenset[int]) -> frozenset[int]:
        """One integer or a list of them (e.g. accepted HTTP status codes)."""
        value = self._get(key)
        if value is None:
            return default
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise self._wrong(key, "an integer or a list of integers", value)
        return frozenset(v for v in items if isinstance(v, int))

    def statuses(self, key: str, default: frozenset[int]) -> frozenset[int]:
        """HTTP status codes: one or a list, each a real status (100..599)."""
        codes = self.integers(key, default)
        wrong = sorted(code for code in codes if not 100 <= code <= 599)
        if wrong:
            raise OptionError(key, f"probe {self.kind}: {key!r} lists {wrong[0]}, which is no HTTP status (100..599)")
        return codes

    def texts(self, key: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        value = self._get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise self._wrong(key, "a string or a list of strings", value)
        return tuple(str(v) for v in items)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        """One of a fixed set of strings."""
        value = self.text(key, default)
        assert value is not None
        if value not in choices:
            raise OptionError(key, f"probe {self.kind}: {key!r} must be {one_of(choices)}, not {value!r}{did_you_mean(value, choices)}")
        return value

    def text_map(self, key: str) -> Mapping[str, str]:
        """A mapping of strings to strings (e.g. extra HTTP headers)."""
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int)) for k, v in value.items()
        ):
            raise self._wrong(key, "a mapping of names to strings", value)
        return {str(k): str(v) for k, v in value.items()}

    def finish(self) -> None:
        """Reject any option the probe did not read (typos must not be ignored)."""
        for key in self.values:
            if key not in self._known:
                valid = sorted(self._known)
                raise OptionError(
                    key,
                    f"probe {self.kind} has no option {key!r}{did_you_mean(key, valid)}; "
                    f"valid options: {', '.join(valid) if valid else 'none'}",
                )
