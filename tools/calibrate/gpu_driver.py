"""What the NVIDIA driver says a process uses: NVML if importable, else nvidia-smi.

Standard library only at import time; `pynvml` (the nvidia-ml-py package) is imported
inside a function, and its absence, or a machine without a driver, gives None, never an
exception. Numbers are bytes. The driver's view includes the CUDA context, the kernels
loaded so far and everything the caching allocator holds (reserved): what nvidia-smi
shows a user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
from typing import Any

MIB = 2**20  # nvidia-smi's "MiB"
_SMI_TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DriverReading:
    """One device as the driver sees it now: its used bytes and this process's share."""

    uuid: str | None
    device_used_bytes: int | None
    process_used_bytes: int | None
    source: str  # "nvml", "nvidia-smi" or "none"


NO_READING = DriverReading(uuid=None, device_used_bytes=None, process_used_bytes=None,
                           source="none")


def _nvml() -> Any | None:
    """The initialised pynvml module, or None when it or the driver is missing."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_readings(nvml: Any, pid: int) -> list[DriverReading]:
    readings = []
    for index in range(int(nvml.nvmlDeviceGetCount())):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        process_used = None
        try:
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    process_used = int(proc.usedGpuMemory)
        except Exception:
            pass
        readings.append(DriverReading(
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            device_used_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).used),
            process_used_bytes=process_used,
            source="nvml",
        ))
    return readings


def parse_smi_apps(text: str, pid: int) -> dict[str, int]:
    """{gpu uuid: bytes} used by `pid`, from
    `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits`."""
    used: dict[str, int] = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 3 and fields[0] == str(pid) and fields[2].isdigit():
            used[fields[1]] = used.get(fields[1], 0) + int(fields[2]) * MIB
    return used


def parse_smi_gpus(text: str) -> list[tuple[str, int]]:
    """[(uuid, used bytes)] per device, from
    `nvidia-smi --query-gpu=uuid,memory.used --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and fields[1].isdigit():
            gpus.append((fields[0], int(fields[1]) * MIB))
    return gpus


def _smi(*args: str) -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True,
                              timeout=_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _smi_readings(pid: int) -> list[DriverReading]:
    gpus = _smi("--query-gpu=uuid,memory.used", "--format=csv,noheader,nounits")
    if gpus is None:
        return []
    apps_text = _smi("--query-compute-apps=pid,gpu_uuid,used_memory",
                     "--format=csv,noheader,nounits")
    apps = parse_smi_apps(apps_text or "", pid)
    return [DriverReading(uuid=uuid, device_used_bytes=used, process_used_bytes=apps.get(uuid),
                          source="nvidia-smi")
            for uuid, used in parse_smi_gpus(gpus)]


def read_all() -> list[DriverReading]:
    """Every device the driver lists, in its order; [] when nothing can be read. Never raises."""
    pid = os.getpid()
    nvml = _nvml()
    if nvml is not None:
        try:
            readings = _nvml_readings(nvml, pid)
        except Exception:
            readings = []
        if readings and any(r.process_used_bytes is not None for r in readings):
            return readings
        smi = _smi_readings(pid)  # NVML may list processes by host PID only
        if any(r.process_used_bytes is not None for r in smi):
            return smi
        if readings:
            return readings
    try:
        return _smi_readings(pid)
    except Exception:
        return []


def pick(readings: list[DriverReading], uuid: str | None) -> DriverReading:
    """The reading for the device with `uuid` (torch's view of it), else the first one."""
    if uuid:
        bare = uuid.removeprefix("GPU-")
        for reading in readings:
            if reading.uuid and reading.uuid.removeprefix("GPU-") == bare:
                return reading
    return readings[0] if readings else NO_READING


def used_by_process(now: DriverReading, baseline: DriverReading) -> tuple[int | None, str]:
    """This process's bytes: the per-process figure, else device used minus the baseline.

    The baseline is read before CUDA is initialised. In a container the driver may list
    processes under host PIDs, so the per-process figure can be missing; the device
    difference then stands in (it also counts any other process that started meanwhile).
    """
    if now.process_used_bytes is not None:
        return now.process_used_bytes, f"{now.source}: this process's used memory"
    if now.device_used_bytes is not None and baseline.device_used_bytes is not None:
        return (now.device_used_bytes - baseline.device_used_bytes,
                f"{now.source}: device used minus the baseline read before CUDA init")
    return None, "driver not readable"


def describe() -> dict[str, str | None]:
    """Driver version and nvidia-ml-py version, when they can be read."""
    info: dict[str, str | None] = {"driver": None, "nvidia_ml_py": None}
    nvml = _nvml()
    if nvml is not None:
        with contextlib.suppress(Exception):
            info["driver"] = _text(nvml.nvmlSystemGetDriverVersion())
        try:
            from importlib.metadata import version

            info["nvidia_ml_py"] = version("nvidia-ml-py")
        except Exception:
            pass
    if info["driver"] is None:
        out = _smi("--query-gpu=driver_version", "--format=csv,noheader")
        if out and out.strip():
            info["driver"] = out.strip().splitlines()[0]
    return info
