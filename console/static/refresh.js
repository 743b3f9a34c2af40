// Optional live refresh of the overview, a progressive enhancement: without JavaScript the
// page's own "Refresh" link does the same. While the box is ticked (remembered in this browser)
// and the tab is visible, the page is fetched again every data-period-ms and each element marked
// data-live is replaced by its fresh copy; the forms around them keep what was typed.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) return;
  var control = document.getElementById("auto-refresh-control");
  var note = document.getElementById("auto-refresh-note");
  var key = "console.auto-refresh";
  var period = Number(box.getAttribute("data-period-ms")) || 10000;
  var timer = null;

  function schedule() {
    clearTimeout(timer);
    if (box.checked) timer = setTimeout(refresh, period);
  }

  function stop(reason) {
    box.checked = false;
    note.textContent = "Refresh stopped: " + reason + ". Reload the page.";
  }

  function refresh() {
    if (document.hidden) return schedule();
    // A redirect means the session ended (to the sign-in form): stop rather than follow it.
    fetch(location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect") throw new Error("signed out");
        if (!response.ok) throw new Error("the console answered " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var next = fresh.getElementById(old.id);
          if (next) old.replaceWith(document.adoptNode(next));
        });
        note.textContent = "";
        schedule();
      })
      .catch(function (error) {
        stop(error.message);
      });
  }

  box.checked = localStorage.getItem(key) === "on";
  control.hidden = false;
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "on" : "off");
    if (box.checked) refresh();
    else clearTimeout(timer);
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && box.checked) refresh();
  });
  schedule();
})();
