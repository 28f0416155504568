/* global echarts */
// The reports dashboard: each chart is drawn by Apache ECharts from the table view next to it (the table is
// the source, so the chart and what a screen reader reads are the same numbers). CSP-clean: no inline
// script, no eval; ECharts only sets element styles through the CSSOM.
(function () {
  "use strict";
  if (typeof echarts === "undefined") {
    return;
  }

  function readTable(table) {
    const columns = Array.from(table.querySelectorAll("thead th")).slice(1).map((th) => th.textContent.trim());
    const rows = [];
    table.querySelectorAll("tbody tr").forEach((tr) => {
      const label = tr.querySelector("th");
      const cells = Array.from(tr.querySelectorAll("td[data-value]"));
      if (!label || cells.length === 0) {
        return;
      }
      rows.push({
        label: label.textContent.trim(),
        values: cells.map((td) => (td.dataset.value === "" ? null : Number(td.dataset.value))),
      });
    });
    return { columns, rows };
  }

  function bars(data, only) {
    const pick = only || data.columns.map((_, i) => i);
    return {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 40, bottom: 64, containLabel: true },
      xAxis: { type: "category", data: data.rows.map((r) => r.label), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value" },
      series: pick.map((i) => ({ name: data.columns[i], type: "bar", data: data.rows.map((r) => r.values[i]) })),
    };
  }

  function optionFor(key, kind, data) {
    if (kind === "line") {
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0, type: "scroll" },
        grid: { left: 48, right: 16, top: 40, bottom: 32, containLabel: true },
        xAxis: { type: "category", data: data.rows.map((r) => r.label) },
        yAxis: { type: "value", minInterval: 1 },
        series: data.columns.map((name, i) => ({ name, type: "line", data: data.rows.map((r) => r.values[i]) })),
      };
    }
    if (kind === "funnel") {
      return {
        tooltip: { trigger: "item" },
        series: [
          {
            type: "funnel",
            sort: "none",
            left: "10%",
            width: "80%",
            label: { show: true, position: "inside", formatter: "{b}: {c}" },
            data: data.rows.map((r) => ({ name: r.label, value: r.values[0] })),
          },
        ],
      };
    }
    if (key === "after_the_fact") {
      // the share per series as bars, the tenant's warning level as a line
      const option = bars(data, [2]);
      option.series.push({ name: data.columns[3], type: "line", data: data.rows.map((r) => r.values[3]) });
      return option;
    }
    return bars(data);
  }

  document.querySelectorAll(".report-chart").forEach((section) => {
    const key = section.dataset.chart;
    const canvas = section.querySelector(".report-chart-canvas");
    const table = section.querySelector("table");
    if (!canvas || !table) {
      return;
    }
    const data = readTable(table);
    if (data.rows.length === 0) {
      canvas.hidden = true;
      return;
    }
    const chart = echarts.init(canvas, null, { renderer: "canvas" });
    chart.setOption(optionFor(key, section.dataset.kind, data));
    section.classList.add("report-chart-drawn");
    const png = section.querySelector(".report-png");
    if (png) {
      png.hidden = false;
      png.addEventListener("click", () => {
        const link = document.createElement("a");
        link.href = chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
        link.download = `dashboard-${key}.png`;
        document.body.appendChild(link);
        link.click();
        link.remove();
      });
    }
    window.addEventListener("resize", () => chart.resize());
  });
})();
