"""The report summary shows hardware numbers where engineers look (#16 item 5): resources
against the device, Fmax and its tool, area in mm^2, latency/II in cycles and ns, throughput
at the clock, and the co-simulation speed labelled as simulation speed."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.unit


def test_summary_rows_from_records(tmp_path):
    from hwflow.report.summary import key_numbers

    def rec(name, **kw):
        (tmp_path / f"{name}.json").write_text(json.dumps({"status": "complete", **kw}))

    rec("rtl", latency_cycles=8, ii=2, software={"before": {"ops": ["Quant (ap_fixed<16,6>)"]},
                                                 "after": {"ops": ["Softmax"]}})
    rec("synth", family="ice40", device="iCE40UP5K", resources={"lut": 900, "ff": 300, "carry": 40},
        utilization={"lut": {"used": 940, "available": 5280, "percent": 17.8},
                     "ff": {"used": 300, "available": 5280, "percent": 5.68}},
        timing={"tool": "yosys sta (x)", "fmax_upper_bound_mhz": 75.5})
    rec("profile", target="asic-osu018", clock_mhz=40.0, area_um2=6.086e6, total_power_mw=1.5,
        energy_per_inference_nj=0.075)
    rec("sim", samples=100, mismatches=0, inferences_per_second=123456.0)
    rows = {what: (value, src) for what, value, src in key_numbers(tmp_path)}
    assert rows["software around the hardware"][0] == "before: Quant (ap_fixed<16,6>); after: Softmax"
    assert rows["resources (ice40, iCE40UP5K)"][0].startswith("LUT 940/5,280 (17.8%), FF 300/5,280 (5.68%)")
    assert rows["Fmax estimate (MHz)"][0] == "<= 75.5 (yosys sta (x))"
    assert rows["area (mm^2)"][0] == "6.086 (asic-osu018)"
    assert rows["latency, II"] == ("latency 8 cycles = 200 ns, II 2 cycles = 50 ns at 40 MHz", "rtl.json, profile.json")
    assert rows["hardware throughput at 40 MHz"][0] == "20,000,000 inferences/s (clock / II)"
    assert rows["co-simulation speed (Verilator, not hardware)"][0].startswith("123,456 simulated inferences")
    assert rows["bit-exact: RTL co-simulation (Verilator)"][0] == "0 mismatches / 100 samples"


def test_report_has_utilization_bars_and_embeds_the_profile_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwflow.report import write_report

    hw = tmp_path / "hw"  # the layout of `hwflow run -o RUN`
    (hw / "profile" / "asic-osu018").mkdir(parents=True)
    fig, _ = plt.subplots()
    fig.savefig(hw / "profile" / "asic-osu018" / "area_by_module.png")
    plt.close(fig)
    (hw / "synth.json").write_text(json.dumps({"status": "complete", "family": "ice40", "device": "iCE40UP5K",
                                               "utilization": {"lut": {"used": 940, "available": 5280}}}))
    (hw / "profile.json").write_text(json.dumps({"status": "complete",
                                                 "plots": ["profile/asic-osu018/area_by_module.png"]}))
    paths = write_report(tmp_path)
    assert paths["plot_utilization"].exists()
    assert paths["plot_profile: area by module"] == hw / "profile" / "asic-osu018" / "area_by_module.png"
    md = paths["markdown"].read_text()
    assert "![utilization](plots/utilization.png)" in md
    assert "![profile: area by module](hw/profile/asic-osu018/area_by_module.png)" in md
    assert paths["html"].read_text().count("data:image/png;base64,") == 2
