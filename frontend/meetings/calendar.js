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
  });
  calendar.render();
})();
