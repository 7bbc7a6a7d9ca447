"""Behaviour shared by every metadata namespace, and the published package's single-value wrappers.

The published ``mlarray`` package documents an object API on every namespace (``to_plain``,
``to_mapping(include_none=)``, ``is_default``, ``reset``, ``ensure``, ``copy_from``) and single-value
classes (``MetaSource``, ``MetaExtra``, ``MetaIsSeg``, ...). They live here so that ``mlarray.meta``
keeps to the model itself.

Fields the library manages (``spatial.shape``, the ``blosc2`` layout) are read-only for users; the
library writes them inside :func:`library_write` (the published package called it ``_meta_internal_write``;
:mod:`mlarray.meta` keeps that name for code ported from it). Assigning any other field validates it at
once (against the array dimensions last seen) and leaves the old value in place when it is refused.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, NoReturn, Optional, TypeVar

from .._errors import MetadataTypeError

__all__ = ["BaseMeta", "SingleKeyBaseMeta", "FrozenList", "MetaSource", "MetaExtra", "MetaIsSeg",
           "MetaHasArray", "MetaImageFormat", "MetaVersion", "library_write", "internal_write",
           "to_plain_value"]

_INTERNAL_WRITE: ContextVar[bool] = ContextVar("mlarray_library_write", default=False)
_B = TypeVar("_B", bound="BaseMeta")
_S = TypeVar("_S", bound="SingleKeyBaseMeta")
_D = TypeVar("_D", bound="_MetaDict")


@contextmanager
def library_write() -> Iterator[None]:
    """Inside the block, library-managed fields (``spatial.shape``, the ``blosc2`` layout, ``has_array``,
    ...) can be assigned: how the writer and the array record what they did. Users' assignments outside
    it are refused. A context variable, so a block in one thread or task never opens another's."""
    token = _INTERNAL_WRITE.set(True)
    try:
        yield
    finally:
        _INTERNAL_WRITE.reset(token)


def internal_write() -> bool:
    return _INTERNAL_WRITE.get()


def _read_only(label: str) -> AttributeError:
    return AttributeError(f"{label} is managed by mlarray and is read-only; it is recorded when the file is "
                          "written (use the constructor, save() or create() arguments instead)")


class FrozenList(list):
    """A list that refuses in-place changes: library-managed values such as ``spatial.shape``."""

    __slots__ = ("_label",)

    def __init__(self, values: Iterable[Any] = (), label: str = "this metadata field") -> None:
        super().__init__(values)
        self._label = label

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise _read_only(self._label)

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Callable[..., list], tuple[list]]:
        return (list, (list(self),))

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: Any) -> list:
        return list(self)


def to_plain_value(value: Any) -> Any:
    """Deep copy into plain Python types: frozen lists and dict wrappers become list/dict, enums their value."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: to_plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain_value(v) for v in value]
    return value


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        return default


class BaseMeta:
    """One metadata namespace: a fixed set of fields, validated on the way in, mapped to JSON.

    Subclasses list their public fields in ``_FIELDS`` (in document order), the library-managed ones
    in ``_PROTECTED``, and call ``self._ready()`` at the end of ``__init__``.
    """

    __slots__ = ("_is_ready",)
    _FIELDS: ClassVar[tuple] = ()
    _PROTECTED: ClassVar[frozenset] = frozenset()
    _PREFIX: ClassVar[str] = ""

    def _ready(self) -> None:
        object.__setattr__(self, "_is_ready", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if not _attr(self, "_is_ready", False) or internal_write() or name not in self._FIELDS:
            object.__setattr__(self, name, value)
            return
        if name in self._PROTECTED and not (value is None and self._clearable(name)):
            raise _read_only(f"{self._PREFIX}{name}")
        old = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            with library_write():
                self._revalidate(name)
        except BaseException:
            object.__setattr__(self, name, old)
            raise

    def _clearable(self, name: str) -> bool:
        """Whether a user may reset a library-managed field to None (it is then recomputed on save)."""
        return False

    def _revalidate(self, changed: Optional[str] = None) -> None:
        """Re-check every field after ``changed`` was assigned (subclasses with context override this)."""
        checked = type(self)(**{f: getattr(self, f) for f in self._init_fields()})
        for f in self._init_fields():
            object.__setattr__(self, f, getattr(checked, f))

    @classmethod
    def _init_fields(cls) -> tuple:
        return cls._FIELDS

    # -- the published package's object API ---------------------------------------------------
    def to_mapping(self, *, include_none: bool = False) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_plain(self, *, include_none: bool = False) -> Any:
        """The namespace as plain Python values (lists, dicts, str, numbers)."""
        return to_plain_value(self.to_mapping(include_none=include_none))

    @classmethod
    def from_mapping(cls: type[_B], d: object) -> _B:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def ensure(cls: type[_B], x: Any) -> _B:
        """``x`` as an instance of this class: None gives the default, a mapping is parsed."""
        if x is None:
            return cls()
        if isinstance(x, cls):
            return x
        if isinstance(x, Mapping):
            return cls.from_mapping(x)
        raise MetadataTypeError(cls._PREFIX.rstrip(".") or cls.__name__, x,
                                f"cannot become {cls.__name__}", f"pass None, a mapping or a {cls.__name__}")

    def is_default(self) -> bool:
        """True when every field is unset (equal to a freshly constructed namespace)."""
        return self.to_mapping() == type(self)().to_mapping()

    def is_empty(self) -> bool:
        return self.is_default()

    def reset(self) -> None:
        """Unset every field the user may change."""
        outer = internal_write()  # library-managed fields are reset only by the library
        fresh = type(self)()
        with library_write():
            for f in self._FIELDS:
                if f not in self._PROTECTED or outer:
                    setattr(self, f, getattr(fresh, f))

    def copy_from(self, other: "BaseMeta", *, overwrite: bool = False) -> None:
        """Take ``other``'s fields: all with ``overwrite``, else only those unset here.

        Library-managed fields are copied only inside :func:`library_write`."""
        if type(other) is not type(self):
            raise MetadataTypeError(self._PREFIX.rstrip(".") or type(self).__name__, other,
                                    f"copy_from needs another {type(self).__name__}", "pass the same kind of namespace")
        outer = internal_write()
        src = type(self).from_mapping(other.to_mapping())  # a private copy: no shared lists
        with library_write():
            for f in self._FIELDS:
                if f in self._PROTECTED and not outer:
                    continue
                mine = getattr(self, f)
                if overwrite or mine is None or (isinstance(mine, (list, dict)) and not mine):
                    setattr(self, f, getattr(src, f))
            self._revalidate()

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[dict]]:
        # Rebuild from the JSON mapping: a field-by-field restore would trip the read-only guards.
        return (type(self).from_mapping, (self.to_mapping(),))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_mapping() == other.to_mapping()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_mapping()!r})"


# ----------------------------------------------------------------------------- single values

class SingleKeyBaseMeta:
    """One wrapped value (the published package's ``MetaIsSeg``, ``MetaHasArray``, ...).

    It compares equal to its value, is truthy like it, and ``to_plain()`` returns it. Instances
    obtained from a ``Meta`` (``meta._has_array``) read and write that ``Meta`` directly.
    """

    __slots__ = ("_value", "_owner")
    _KEY: ClassVar[str] = "value"
    _OWNER_ATTR: ClassVar[str] = ""  # the Meta attribute a view made by bound_to() reads and writes
    _PROTECTED: ClassVar[bool] = False
    _DEFAULT: ClassVar[Any] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1 or set(kwargs) - {self._KEY} or (args and kwargs):
            raise MetadataTypeError(self._KEY, (args, kwargs), f"{type(self).__name__} wraps one value",
                                    f"pass {type(self).__name__}({self._KEY}=...)")
        value = args[0] if args else kwargs.get(self._KEY, self._DEFAULT)
        object.__setattr__(self, "_owner", None)
        object.__setattr__(self, "_value", self._check(value))

    @classmethod
    def bound_to(cls, owner: Any) -> "SingleKeyBaseMeta":
        """A view of ``owner``'s value (its ``_OWNER_ATTR``): reads and writes go to ``owner``."""
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_owner", owner)
        object.__setattr__(obj, "_value", None)
        return obj

    @classmethod
    def _check(cls, value: Any) -> Any:
        return value

    @property
    def value(self) -> Any:
        owner = object.__getattribute__(self, "_owner")
        if owner is not None:
            return getattr(owner, self._OWNER_ATTR)
        return object.__getattribute__(self, "_value")

    @value.setter
    def value(self, v: Any) -> None:
        self._set(v)

    def set(self, v: Any) -> None:
        self._set(v)

    def _set(self, v: Any) -> None:
        if self._PROTECTED and not internal_write():
            raise _read_only(f"meta._{self._KEY}" if self._KEY != "mlarray_version" else "meta._mlarray_version")
        v = self._check(v)
        owner = object.__getattribute__(self, "_owner")
        if owner is not None:
            with library_write():
                setattr(owner, self._OWNER_ATTR, v)
        else:
            object.__setattr__(self, "_value", v)

    def __getattr__(self, name: str) -> Any:
        if name == type(self)._KEY:
            return self.value
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == type(self)._KEY or name == "value":
            self._set(value)
            return
        raise AttributeError(f"{type(self).__name__} has only the field {self._KEY!r}")

    # -- object API ---------------------------------------------------------------------------
    def to_mapping(self, *, include_none: bool = True) -> dict:
        v = self.value
        return {} if v is None and not include_none else {self._KEY: to_plain_value(v)}

    def to_plain(self, *, include_none: bool = False) -> Any:
        return to_plain_value(self.value)

    @classmethod
    def from_mapping(cls: type[_S], d: Any) -> _S:
        if isinstance(d, Mapping) and set(d) == {cls._KEY}:
            return cls(d[cls._KEY])
        return cls(d)

    @classmethod
    def ensure(cls: type[_S], x: Any) -> _S:
        if isinstance(x, cls):
            return x
        return cls() if x is None else cls.from_mapping(x)

    def is_default(self) -> bool:
        return self.value == self._DEFAULT

    def reset(self) -> None:
        self._set(self._DEFAULT)

    def copy_from(self, other: "SingleKeyBaseMeta", *, overwrite: bool = False) -> None:
        if type(other) is not type(self):
            raise MetadataTypeError(self._KEY, other, f"copy_from needs another {type(self).__name__}",
                                    "pass the same kind of value")
        if overwrite or self.value is None:
            self._set(other.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    # Container behaviour of the wrapped value (the published package delegates these too).
    def __len__(self) -> int:
        return 0 if self.value is None else len(self.value)

    def __iter__(self) -> Iterator[Any]:
        return iter(()) if self.value is None else iter(self.value)

    def __contains__(self, item: Any) -> bool:
        return self.value is not None and item in self.value

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __setitem__(self, key: Any, val: Any) -> None:
        self.value[key] = val

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, SingleKeyBaseMeta) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.value)

    def __reduce__(self) -> tuple[type, tuple[Any]]:
        return (type(self), (self.value,))


def _check_optional_bool(field: str) -> Any:
    """A ``_check`` classmethod for an optional bool named ``field`` (typed Any: it replaces the method)."""
    def check(cls: type, v: Any) -> Optional[bool]:
        if v is not None and not isinstance(v, bool):
            if type(v).__name__ == "bool_":  # numpy bool
                return bool(v)
            raise MetadataTypeError(field, v, "must be True, False or None", "pass a bool")
        return v
    return classmethod(check)


def _check_optional_str(field: str) -> Any:
    """A ``_check`` classmethod for an optional string named ``field`` (typed Any: it replaces the method)."""
    def check(cls: type, v: Any) -> Optional[str]:
        if v is not None and not isinstance(v, str):
            raise MetadataTypeError(field, v, "must be a string or None", "pass a str")
        return v
    return classmethod(check)


class MetaIsSeg(SingleKeyBaseMeta):
    """Whether the array is a segmentation (True/False, None when unknown). ``meta.is_seg`` holds the value."""

    __slots__ = ()
    _KEY = "is_seg"
    _OWNER_ATTR = "is_seg"
    _check = _check_optional_bool("is_seg")


class MetaHasArray(SingleKeyBaseMeta):
    """Whether the file holds an array (library-managed: ``meta._has_array`` is read-only)."""

    __slots__ = ()
    _KEY = "has_array"
    _OWNER_ATTR = "has_array"
    _PROTECTED = True
    _DEFAULT = False

    @classmethod
    def _check(cls, v: Any) -> bool:
        if type(v).__name__ == "bool_":
            v = bool(v)
        if not isinstance(v, bool):
            raise MetadataTypeError("has_array", v, "must be True or False", "pass a bool")
        return v


class MetaImageFormat(SingleKeyBaseMeta):
    """The source header's format (``meta.source_format``; read-only through ``meta._image_meta_format``)."""

    __slots__ = ()
    _KEY = "image_meta_format"
    _OWNER_ATTR = "source_format"
    _PROTECTED = True
    _check = _check_optional_str("image_meta_format")


class MetaVersion(SingleKeyBaseMeta):
    """The software that wrote the file (``meta.writer``; read-only through ``meta._mlarray_version``)."""

    __slots__ = ()
    _KEY = "mlarray_version"
    _OWNER_ATTR = "writer"
    _PROTECTED = True
    _check = _check_optional_str("mlarray_version")


# ----------------------------------------------------------------------------- free-form dicts

class _MetaDict(dict):
    """A free-form JSON dict (``meta.source``, ``meta.extra``) with the published object API.

    It is a real ``dict``: ``meta.source["study_id"] = ...`` works, and it equals plain dicts.
    Values are checked to be JSON when the metadata is validated or saved.
    """

    __slots__ = ()
    _KEY: ClassVar[str] = "data"

    @property
    def data(self) -> dict:
        """The published package's name for the wrapped dict (this object itself)."""
        return self

    @data.setter
    def data(self, value: Mapping) -> None:
        if not isinstance(value, Mapping):
            raise MetadataTypeError(self._KEY, value, "must be a dict", "pass a dict of JSON values")
        self.clear()
        self.update(value)

    @property
    def value(self) -> dict:
        return self

    def to_plain(self, *, include_none: bool = False) -> dict:
        return to_plain_value(dict(self))

    def to_mapping(self, *, include_none: bool = True) -> dict:
        """The dict itself, as stored in the file (the published package wrapped it as ``{"data": ...}``;
        :meth:`from_mapping` reads both forms)."""
        return self.to_plain()

    @classmethod
    def from_mapping(cls: type[_D], d: Any) -> _D:
        if isinstance(d, Mapping) and set(d) == {"data"} and isinstance(d["data"], Mapping):
            return cls(d["data"])
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise MetadataTypeError(cls.__name__, d, "must be a dict", "pass a dict of JSON values")
        return cls(d)

    @classmethod
    def ensure(cls: type[_D], x: Any) -> _D:
        return x if isinstance(x, cls) else cls.from_mapping(x)

    def is_default(self) -> bool:
        return not self

    def reset(self) -> None:
        self.clear()

    def set(self, value: Mapping) -> None:
        self.data = value

    def copy_from(self, other: Mapping, *, overwrite: bool = False) -> None:
        if overwrite or not self:
            self.data = dict(other)

    def __reduce__(self) -> tuple[type, tuple[dict]]:
        return (type(self), (dict(self),))


class MetaSource(_MetaDict):
    """The original format's header (any JSON): ``meta.source``."""

    __slots__ = ()


class MetaExtra(_MetaDict):
    """Free-form JSON for application data: ``meta.extra``."""

    __slots__ = ()
