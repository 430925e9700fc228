/* Re-renders the report's instants in the time zone picked in Airflow's user menu (the UI keeps it in
   localStorage "timezone", JSON-encoded), when set and not the deployment's zone. Server-rendered text stays
   when the zone is unset, unknown, or scripts are off. Partitions and windows are days, not instants: untouched. */
(function () {
  "use strict";
  var page = document.documentElement.getAttribute("data-tz");
  var zone = null;
  try {
    zone = JSON.parse(window.localStorage.getItem("timezone") || "null");
  } catch (e) {
    return;
  }
  if (typeof zone !== "string" || !zone || zone === page) return;
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
    });
  } catch (e) {
    return; /* a zone this browser does not know */
  }
  function show(d) {
    var p = {};
    fmt.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
  }
  document.querySelectorAll("time[data-instant]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) {
      t.title = t.textContent + " " + page;
      t.textContent = show(d);
    }
  });
  document.querySelectorAll("[data-tz-label]").forEach(function (s) { s.textContent = zone; });
})();
