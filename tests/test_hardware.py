"""stance.hardware: CPU flags, native bf16 / int8, and the precision "auto" picks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from stance import hardware
from stance.hardware import choose_precision, cpu_flags, native_bf16, native_int8

REPO = Path(__file__).resolve().parent.parent

# Trimmed but real /proc/cpuinfo texts (two logical CPUs each where the layout matters).
ZEN4 = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht \
syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid \
pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm \
cmp_legacy abm sse4a misalignsse 3dnowprefetch topoext fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq \
rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves \
avx512_bf16 clzero xsaveerptr arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq rdpid fsrm
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso
bogomips\t: 5199.99

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht \
syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid \
pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm \
cmp_legacy abm sse4a misalignsse 3dnowprefetch topoext fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq \
rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves \
avx512_bf16 clzero xsaveerptr arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq rdpid fsrm
"""

# Xeon Gold 6148 (Skylake-SP): AVX512F/BW/VL/DQ but neither VNNI nor BF16.
SKYLAKE_SP = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse \
sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology \
nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm \
pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch \
cpuid_fault epb cat_l3 cdp_l3 invpcid_single pti intel_ppin ssbd mba ibrs ibpb stibp tpr_shadow vnmi flexpriority \
ept vpid fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm mpx rdt_a avx512f avx512dq rdseed adx \
smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc \
cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts pku ospke md_clear flush_l1d
vmx flags\t: vnmi preemption_timer invvpid ept_x_only ept_ad ept_1gb flexpriority tsc_offset vtpr mtf vapic ept vpid
"""

# Xeon Gold 6248 (Cascade Lake): Skylake-SP plus AVX512-VNNI, still no BF16.
CASCADE_LAKE = SKYLAKE_SP.replace("Gold 6148", "Gold 6248").replace("avx512vl ", "avx512vl avx512_vnni ")

# Xeon Platinum 8480+ (Sapphire Rapids): AMX tiles for bf16 and int8, and the AVX512 forms too.
SAPPHIRE_RAPIDS = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse \
sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology \
nonstop_tsc cpuid aperfmperf pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx \
f16c rdrand lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap \
avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 \
wbnoinvd arat avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq la57 rdpid movdiri movdir64b enqcmd fsrm md_clear serialize tsxldtrk pconfig arch_lbr \
avx512_fp16 amx_tile amx_bf16 amx_int8 flush_l1d arch_capabilities
"""

# AWS Graviton3 (Neoverse V1): ARMv8.6 BF16 and I8MM, plus the dot product (asimddp).
GRAVITON3 = """\
processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc \
dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm \
bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd40

processor\t: 1
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc \
dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm \
bf16 dgh rng
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""

# AWS Graviton2 (Neoverse N1): dot product, no BF16.
GRAVITON2 = """\
processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU part\t: 0xd0c
"""

# A plain AVX2 laptop/desktop without VNNI or BF16 (Haswell-like).
AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2\n"

CPUINFO = {
    "ZEN4": ZEN4,
    "SKYLAKE_SP": SKYLAKE_SP,
    "CASCADE_LAKE": CASCADE_LAKE,
    "SAPPHIRE_RAPIDS": SAPPHIRE_RAPIDS,
    "GRAVITON3": GRAVITON3,
    "GRAVITON2": GRAVITON2,
    "AVX2_ONLY": AVX2_ONLY,
}
F = {name: cpu_flags(text) for name, text in CPUINFO.items()}  # parsed flags by CPU


@pytest.fixture
def fresh_cache():
    hardware._proc_cpu_flags.cache_clear()
    yield
    hardware._proc_cpu_flags.cache_clear()


# --- parsing ---------------------------------------------------------------------------------------------------


def test_parse_zen4():
    flags = F["ZEN4"]
    assert {"avx512_bf16", "avx512_vnni", "avx512f", "avx2"} <= flags
    assert "amx_bf16" not in flags
    assert "fpu" in flags and "fsrm" in flags  # first and last tokens of the line
    assert not {"srso", "5199.99"} & flags  # other lines ("bugs", "bogomips") are not flags
    assert native_bf16(flags, cuda=False) and native_int8(flags)


def test_parse_skylake_sp():
    flags = F["SKYLAKE_SP"]
    assert {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags
    assert not {"avx512_bf16", "avx512_vnni", "amx_bf16"} & flags
    assert "preemption_timer" not in flags  # the "vmx flags" line is not the "flags" line
    assert not native_bf16(flags, cuda=False)
    assert not native_int8(flags)


def test_parse_cascade_lake():
    assert native_int8(F["CASCADE_LAKE"])
    assert not native_bf16(F["CASCADE_LAKE"], cuda=False)


def test_parse_sapphire_rapids():
    flags = F["SAPPHIRE_RAPIDS"]
    assert {"amx_bf16", "amx_int8", "amx_tile", "avx512_bf16"} <= flags
    assert native_bf16(flags, cuda=False) and native_int8(flags)


def test_parse_graviton3_features_line():
    flags = F["GRAVITON3"]
    assert {"bf16", "i8mm", "asimddp", "sve"} <= flags
    assert native_bf16(flags, cuda=False) and native_int8(flags)


def test_graviton2_has_int8_but_not_bf16():
    assert native_int8(F["GRAVITON2"])
    assert not native_bf16(F["GRAVITON2"], cuda=False)


def test_sve_bf16_alone_is_not_bf16():
    # Flags match whole words: "svebf16" must not pass for "bf16".
    assert not native_bf16(cpu_flags("Features\t: fp asimd sve svebf16 svei8mm\n"), cuda=False)


def test_parse_empty():
    assert cpu_flags("") == frozenset()
    assert cpu_flags("processor\t: 0\nmodel name\t: something\n") == frozenset()
    assert not native_bf16(frozenset(), cuda=False)
    assert not native_int8(frozenset())


def test_only_flags_every_cpu_has_count():
    text = "processor: 0\nflags: avx2 avx512_bf16 avx512_vnni\n\nprocessor: 1\nflags: avx2 avx512_vnni\n"
    assert cpu_flags(text) == frozenset({"avx2", "avx512_vnni"})


def test_given_flags_are_case_insensitive():
    assert native_bf16(["AVX512_BF16"], cuda=False)
    assert native_int8(("AVX512_VNNI",))


# --- reading this machine ----------------------------------------------------------------------------------------


def test_reads_and_caches_proc_cpuinfo(tmp_path, monkeypatch, fresh_cache):
    fake = tmp_path / "cpuinfo"
    fake.write_text(ZEN4)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(hardware, "_CPUINFO", str(fake))
    assert cpu_flags() == F["ZEN4"]
    fake.write_text(SKYLAKE_SP)
    assert cpu_flags() == F["ZEN4"]  # cached: the file is read once per process
    assert hardware._proc_cpu_flags.cache_info().hits >= 1


def test_unreadable_cpuinfo_is_empty(tmp_path, monkeypatch, fresh_cache):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(hardware, "_CPUINFO", str(tmp_path / "missing"))
    assert cpu_flags() == frozenset()


def test_not_linux_is_empty(tmp_path, monkeypatch, fresh_cache):
    fake = tmp_path / "cpuinfo"
    fake.write_text(ZEN4)
    monkeypatch.setattr(hardware, "_CPUINFO", str(fake))
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cpu_flags() == frozenset()


def _proc_has(flag: str) -> bool:
    try:
        return flag in cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


@pytest.mark.skipif(not _proc_has("avx512_bf16"), reason="this CPU has no AVX512-BF16")
def test_this_machine_has_native_bf16(fresh_cache):
    # The bug this module fixes: get_cpu_capability() says only "AVX512" here, which read as "no native bf16".
    assert "avx512_bf16" in cpu_flags()
    assert native_bf16()
    assert native_bf16(cuda=False)


@pytest.mark.skipif(not _proc_has("avx512_bf16"), reason="this CPU has no AVX512-BF16")
def test_this_machine_torch_capabilities_agree():
    torch = pytest.importorskip("torch")
    if not hasattr(getattr(torch, "cpu", None), "get_capabilities"):
        pytest.skip("this torch has no torch.cpu.get_capabilities()")
    assert "avx512_bf16" in hardware._torch_cpu_flags()


# --- torch as a second source, and CUDA --------------------------------------------------------------------------


def _fake_torch(caps=None, cuda=False):
    def get_capabilities():
        if isinstance(caps, Exception):
            raise caps
        return caps

    def is_available():
        if isinstance(cuda, Exception):
            raise cuda
        return cuda

    cpu = SimpleNamespace(get_capabilities=get_capabilities) if caps is not None else SimpleNamespace()
    return SimpleNamespace(cpu=cpu, cuda=SimpleNamespace(is_available=is_available))


@pytest.fixture
def no_proc_flags(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda cpuinfo=None: frozenset())


def test_torch_capabilities_add_flags(monkeypatch, no_proc_flags):
    # e.g. macOS / Windows: no /proc/cpuinfo, torch's cpuinfo still knows.
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch({"avx512_bf16": True, "avx512_vnni": False}))
    assert native_bf16(cuda=False)
    assert not native_int8()


def test_torch_capabilities_false_and_non_bool_entries_are_not_flags(monkeypatch, no_proc_flags):
    caps = {"avx512_bf16": False, "amx_bf16": False, "num_sockets": 1, "bf16": 1, "architecture": "x86_64"}
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch(caps))
    assert hardware._torch_cpu_flags() == frozenset()
    assert not native_bf16(cuda=False)


def test_torch_arm_dot_is_asimddp(monkeypatch, no_proc_flags):
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch({"dot": True, "bf16": False}))
    assert native_int8()
    assert not native_bf16(cuda=False)


@pytest.mark.parametrize("torch_module", [None, _fake_torch(), _fake_torch(RuntimeError("cpuinfo failed"))])
def test_torch_absent_or_without_capabilities_never_crashes(monkeypatch, no_proc_flags, torch_module):
    monkeypatch.setattr(hardware, "_torch", lambda: torch_module)
    assert hardware._torch_cpu_flags() == frozenset()
    assert not native_bf16()
    assert choose_precision("auto", "bert") == ("fp32", "auto: fp32 (no native bf16 on this CPU)")


def test_given_flags_ignore_torch(monkeypatch):
    # Flags passed in describe another CPU: this machine's torch must not add to them.
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch({"avx512_bf16": True, "avx512_vnni": True}))
    assert not native_bf16(F["SKYLAKE_SP"], cuda=False)
    assert not native_int8(F["SKYLAKE_SP"])


def test_cuda_none_asks_torch(monkeypatch):
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch(cuda=True))
    assert native_bf16(F["SKYLAKE_SP"])
    assert choose_precision("auto", "bert", F["SKYLAKE_SP"]) == ("bf16", "auto: bf16 (CUDA GPU)")
    monkeypatch.setattr(hardware, "_torch", lambda: _fake_torch(cuda=False))
    assert not native_bf16(F["SKYLAKE_SP"])


@pytest.mark.parametrize("torch_module", [None, _fake_torch(cuda=RuntimeError("driver too old"))])
def test_cuda_unknown_is_no_cuda(monkeypatch, torch_module):
    monkeypatch.setattr(hardware, "_torch", lambda: torch_module)
    assert not native_bf16(F["SKYLAKE_SP"])


def test_import_does_not_import_torch():
    code = "import sys, stance.hardware; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- choose_precision ---------------------------------------------------------------------------------------------

NO_BF16 = "auto: fp32 (no native bf16 on this CPU)"
NO_BF16_BUT_INT8 = "auto: fp32 (no native bf16 on this CPU; int8 is faster but costs ~2 macro-F1 points)"
AUTO_CASES = [
    # CPU, cuda, model_type -> precision, reason. Never int8: it costs ~2 macro-F1 points on real text.
    ("SKYLAKE_SP", True, "bert", "bf16", "auto: bf16 (CUDA GPU)"),
    ("SKYLAKE_SP", True, "mpnet", "bf16", "auto: bf16 (CUDA GPU)"),
    ("ZEN4", True, "bert", "bf16", "auto: bf16 (CUDA GPU)"),
    ("ZEN4", False, "bert", "bf16", "auto: bf16 (AVX512-BF16)"),
    ("ZEN4", False, "BERT", "bf16", "auto: bf16 (AVX512-BF16)"),
    ("SAPPHIRE_RAPIDS", False, "bert", "bf16", "auto: bf16 (AMX-BF16)"),
    ("GRAVITON3", False, "bert", "bf16", "auto: bf16 (Arm BF16)"),
    ("ZEN4", False, "mpnet", "bf16", "auto: bf16 (AVX512-BF16)"),
    ("SAPPHIRE_RAPIDS", False, "mpnet", "bf16", "auto: bf16 (AMX-BF16)"),
    ("GRAVITON3", False, "mpnet", "bf16", "auto: bf16 (Arm BF16)"),
    ("CASCADE_LAKE", False, "bert", "fp32", NO_BF16_BUT_INT8),
    ("GRAVITON2", False, "bert", "fp32", NO_BF16_BUT_INT8),
    ("CASCADE_LAKE", False, "mpnet", "fp32", NO_BF16),
    ("SKYLAKE_SP", False, "bert", "fp32", NO_BF16),
    ("SKYLAKE_SP", False, "mpnet", "fp32", NO_BF16),
    ("AVX2_ONLY", False, "bert", "fp32", NO_BF16),
]


@pytest.mark.parametrize(("cpu", "cuda", "model_type", "precision", "reason"), AUTO_CASES)
def test_auto(cpu, cuda, model_type, precision, reason):
    assert choose_precision("auto", model_type, F[cpu], cuda=cuda) == (precision, reason)


def test_auto_bf16_when_bert_but_no_int8_instructions():
    flags = frozenset({"avx512f", "avx512_bf16"})  # hypothetical: BF16 without VNNI
    assert choose_precision("auto", "bert", flags, cuda=False) == ("bf16", "auto: bf16 (AVX512-BF16)")


@pytest.mark.parametrize("cpu", ["ZEN4", "SAPPHIRE_RAPIDS", "CASCADE_LAKE", "GRAVITON3", "GRAVITON2", "SKYLAKE_SP"])
@pytest.mark.parametrize("model_type", ["bert", "mpnet", "roberta", "xlm-roberta", "deberta-v2", "", "bert-ish"])
@pytest.mark.parametrize("cuda", [False, True])
def test_auto_never_int8(cpu, model_type, cuda):
    precision, _ = choose_precision("auto", model_type, F[cpu], cuda=cuda)
    assert precision != "int8"


def test_int8_validated_is_bert_only():
    assert hardware.INT8_VALIDATED == ("bert",)


@pytest.mark.parametrize("requested", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("cpu", ["ZEN4", "SAPPHIRE_RAPIDS", "GRAVITON3"])
@pytest.mark.parametrize("model_type", ["bert", "mpnet"])
def test_explicit_request_passes_through_quietly(requested, cpu, model_type):
    assert choose_precision(requested, model_type, F[cpu], cuda=False) == (requested, "")


@pytest.mark.parametrize("requested", ["fp32", "int8"])
@pytest.mark.parametrize("model_type", ["bert", "mpnet"])
def test_explicit_request_on_old_cpu_is_honoured(requested, model_type):
    assert choose_precision(requested, model_type, F["SKYLAKE_SP"], cuda=False) == (requested, "")


@pytest.mark.parametrize("cpu", ["SKYLAKE_SP", "CASCADE_LAKE", "GRAVITON2", "AVX2_ONLY"])
def test_explicit_bf16_without_native_support_warns(cpu):
    precision, reason = choose_precision("bf16", "bert", F[cpu], cuda=False)
    assert precision == "bf16"  # honoured: the caller only shows the reason
    assert reason == "this CPU has no native bf16 (no AVX512-BF16/AMX): bf16 will be slower than fp32"


def test_explicit_bf16_on_gpu_is_quiet():
    assert choose_precision("bf16", "bert", F["SKYLAKE_SP"], cuda=True) == ("bf16", "")


@pytest.mark.parametrize("requested", ["", "fp16", "FP32", "Auto", "int4", "bfloat16", None])
def test_bad_request_raises(requested):
    with pytest.raises(ValueError, match="precision"):
        choose_precision(requested, "bert", F["ZEN4"], cuda=False)


def test_choose_precision_never_prints(capsys):
    for requested in ("auto", "fp32", "bf16", "int8"):
        choose_precision(requested, "mpnet", F["SKYLAKE_SP"], cuda=False)
    assert capsys.readouterr() == ("", "")
