/* global FullCalendar */
// The meeting calendar: FullCalendar (month / week), Japanese locale, meetings and Japan's public holidays
// from the page's own event feed. Page data comes from a JSON script element (CSP: no inline script);
// FullCalendar's injected styles take the page's nonce from the script elements.
(function () {
  "use strict";
  const el = document.getElementById("meeting-calendar");
  const dataEl = document.getElementById("meeting-calendar-data");
  if (!el || !dataEl || typeof FullCalendar === "undefined") {
    return;
  }
  const data = JSON.parse(dataEl.textContent);
  el.removeAttribute("aria-hidden");
  const calendar = new FullCalendar.Calendar(el, {
    initialView: "dayGridMonth",
    locale: data.locale,
    timeZone: "UTC", // event times come as Japan wall-clock times without an offset
    nextDayThreshold: "00:00:00",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,listMonth" },
    firstDay: 0,
    height: "auto",
    events: data.events,
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    eventColor: "#0b6e4f", // the house accent: white text on it passes WCAG AA contrast
  });
  // FullCalendar's markup, made accessible: its icon fonts are decoration (the buttons carry the names), and a
  // day cell is not named by its day number alone (the cell also holds the meetings).
  function tidy() {
    el.querySelectorAll(".fc-icon[role=img]").forEach(function (icon) {
      icon.removeAttribute("role");
      icon.setAttribute("aria-hidden", "true");
    });
    el.querySelectorAll("td[aria-labelledby]").forEach(function (cell) { cell.removeAttribute("aria-labelledby"); });
  }
  new MutationObserver(tidy).observe(el, { childList: true, subtree: true });
  calendar.render();
  tidy();
})();
