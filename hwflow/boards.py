"""Boards and devices as data: ``boards/<name>.toml``, validated with pydantic.

A board file names its family, device, package, speed grade, clock pin and frequency, UART
pins, LEDs and constraint format; ``boards/_devices.toml`` holds what is shared by every
board on a device (capacities for the fit check, place-and-route arguments) and each
family's defaults. Adding a board is adding a file. ``HWFLOW_BOARDS_DIR`` points at another
folder of board files; ``load_board`` also takes a path to a single file.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hwflow.bundled import bundled_dir
from hwflow.errors import ConfigError

FAMILIES = ("ice40", "ecp5", "gowin", "xilinx")
Family = Literal["ice40", "ecp5", "gowin", "xilinx"]
# families that this machine can take to a bitstream with open tools (nextpnr + packer)
OPEN_BITSTREAM_FAMILIES = ("ice40", "ecp5")


def boards_dir() -> Path:
    env = os.environ.get("HWFLOW_BOARDS_DIR")
    return Path(env) if env else bundled_dir("boards")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capacity(_Strict):
    lut: int = Field(gt=0)
    ff: int = Field(gt=0)
    bram: int = Field(ge=0)
    dsp: int = Field(ge=0)


class Device(_Strict):
    name: str
    family: Family
    capacity: Capacity
    nextpnr_args: list[str] = []


class FamilyInfo(_Strict):
    name: Family
    yosys: str
    constraint_format: Literal["pcf", "lpf", "xdc", "cst"]
    default_device: str
    default_package: str


class Pin(_Strict):
    pin: str = Field(min_length=1)
    name: str | None = None
    inverted: bool = False


class Clock(_Strict):
    pin: str = Field(min_length=1)
    frequency_hz: float = Field(gt=0)


class Uart(_Strict):
    rx: str = Field(min_length=1, description="pin into the FPGA")
    tx: str = Field(min_length=1, description="pin out of the FPGA")
    baud: int = Field(default=115200, gt=0)
    rx_pullup: bool = False   # pull-up on the receive pin (idle high when nothing drives it)
    note: str = ""


class Constraints(_Strict):
    format: Literal["pcf", "lpf", "xdc", "cst"]
    io_standard: str | None = None
    tie_high: list[str] = []
    extra: list[str] = []


class Board(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    url: str = ""
    family: Family
    device: str
    package: str = Field(min_length=1)
    speed: str = ""
    toolchain: Literal["open", "vendor"]
    program: str = ""
    clock: Clock
    uart: Uart
    leds: list[Pin] = []
    constraints: Constraints

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        devices = load_devices()
        if v not in devices:
            raise ValueError(f"unknown device {v!r}; known devices: {', '.join(sorted(devices))} "
                             f"(add it to boards/_devices.toml)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Board":
        dev = load_devices()[self.device]
        if dev.family != self.family:
            raise ValueError(f"device {self.device} is an {dev.family} part, but family is {self.family!r}")
        fmt = load_families()[self.family].constraint_format
        if self.constraints.format != fmt:
            raise ValueError(f"constraints.format must be {fmt!r} for {self.family} (got {self.constraints.format!r})")
        if self.toolchain == "open" and self.family not in OPEN_BITSTREAM_FAMILIES:
            raise ValueError(f"toolchain 'open' needs one of the families {', '.join(OPEN_BITSTREAM_FAMILIES)}; "
                             f"{self.family} boards need toolchain = 'vendor'")
        pins = [self.clock.pin, self.uart.rx, self.uart.tx, *(l.pin for l in self.leds), *self.constraints.tie_high]
        dup = sorted({p for p in pins if pins.count(p) > 1})
        if dup:
            raise ValueError(f"pins used twice: {', '.join(dup)}")
        return self

    @property
    def device_info(self) -> Device:
        return load_devices()[self.device]

    @property
    def capacity(self) -> Capacity:
        return self.device_info.capacity

    @property
    def part(self) -> str:
        """Vendor part string: ``xc7a35ticsg324-1L`` for Xilinx, else ``DEVICE-PACKAGE``."""
        if self.family == "xilinx":
            return f"{self.device}{self.package}-{self.speed}"
        return f"{self.device}-{self.package}"

    @property
    def nextpnr_args(self) -> list[str]:
        args = list(self.device_info.nextpnr_args)
        if self.family == "ice40":
            args += ["--package", self.package.lower()]
        elif self.family == "ecp5":
            args += ["--package", self.package]
            if self.speed:
                args += ["--speed", self.speed]
        return args


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def _format_validation(path: Path, e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(file)"
        lines.append(f"  {loc}: {err['msg']}")
    return f"{path}: invalid board file\n" + "\n".join(lines)


@lru_cache(maxsize=4)
def _devices_file(directory: str) -> tuple[dict[str, Device], dict[str, FamilyInfo]]:
    path = Path(directory) / "_devices.toml"
    data = _read_toml(path)
    try:
        devices = {k: Device(name=k, **v) for k, v in data.get("devices", {}).items()}
        families = {k: FamilyInfo(name=k, **v) for k, v in data.get("families", {}).items()}
    except ValidationError as e:
        raise ConfigError(_format_validation(path, e)) from e
    for fam in families.values():
        if fam.default_device not in devices:
            raise ConfigError(f"{path}: default device {fam.default_device!r} of {fam.name} is not listed")
    return devices, families


def load_devices() -> dict[str, Device]:
    return _devices_file(str(boards_dir()))[0]


def load_families() -> dict[str, FamilyInfo]:
    return _devices_file(str(boards_dir()))[1]


def family_info(family: str) -> FamilyInfo:
    fams = load_families()
    if family not in fams:
        raise ConfigError(f"unknown FPGA family {family!r}; choose one of: {', '.join(fams)}")
    return fams[family]


def list_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml") if not p.name.startswith("_"))


def load_board(name_or_path: str | os.PathLike) -> Board:
    """A board by name (``boards/<name>.toml``) or by path; ``ConfigError`` lists the known
    boards or every invalid field."""
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        path = p
    else:
        path = boards_dir() / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(f"unknown board {str(name_or_path)!r}; known boards: {', '.join(list_boards())}")
    data = _read_toml(path)
    try:
        board = Board(**data)
    except ValidationError as e:
        raise ConfigError(_format_validation(path, e)) from e
    if board.name != path.stem:
        raise ConfigError(f"{path}: name = {board.name!r} must match the file name {path.stem!r}")
    return board
