/* Loaded before MathJax, require.js and the widget manager (see course_lib/book_sphinx.py).
 *
 * 1. The ipywidgets HTML manager loads its fonts from the folder requirejs thinks its
 *    module lives in; point that folder at our vendored copy in _static/html-manager/.
 *    A global `require` object defined before require.js loads is its configuration.
 * 2. The widget manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the
 *    book uses MathJax 3, which has no Hub.  Give every MathJax object a tiny Hub that
 *    forwards to MathJax 3's typesetPromise.
 * 3. Screen readers: the manager's SelectionSlider has no accessible name (its label is not tied
 *    to the handle) and announces the position (aria-valuetext "2") instead of the value it shows
 *    ("0.1"), and nothing says that the picture under the sliders changed.  Name each handle after
 *    its label, give it the readout's text as its value, and read the new picture's alt text out
 *    through a polite live region of the explorer (course_lib.widgets.explore).
 */
(function () {
  var here = document.currentScript && document.currentScript.src;
  var staticDir = here ? here.slice(0, here.lastIndexOf("/") + 1) : "_static/";
  if (typeof window.require === "undefined") {
    window.require = { paths: { "@jupyter-widgets/html-manager/dist": staticDir + "html-manager" } };
  }

  function addHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      Object.defineProperty(mathjax, "Hub", {
        configurable: true,
        enumerable: false,
        value: {
          Queue: function (job) {
            var element = Array.isArray(job) ? job[2] : undefined;
            if (current && typeof current.typesetPromise === "function") {
              current.typesetPromise(element ? [element] : undefined).catch(function (error) {
                console.warn("MathJax could not typeset a widget label:", error);
              });
            }
          },
        },
      });
    }
    return mathjax;
  }

  var current = addHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = addHub(value); },
  });
})();

(function () {
  function describeSlider(handle) {
    var slider = handle.closest(".widget-slider");
    if (!slider) return;
    var label = slider.querySelector(".widget-label");
    var readout = slider.querySelector(".widget-readout");
    var name = label && label.textContent.trim();
    var value = readout && readout.textContent.trim();
    if (name && handle.getAttribute("aria-label") !== name) handle.setAttribute("aria-label", name);
    if (value && handle.getAttribute("aria-valuetext") !== value) handle.setAttribute("aria-valuetext", value);
    if (readout && readout.getAttribute("aria-hidden") !== "true") {
      // the handle now says the value; the editable readout beside it would be a second, unnamed stop
      readout.setAttribute("aria-hidden", "true");
      readout.setAttribute("tabindex", "-1");
    }
  }

  function shownText(explorer) {
    var pictures = [].filter.call(explorer.querySelectorAll("img"), function (img) { return img.offsetParent !== null; });
    if (pictures.length) return pictures.map(function (img) { return img.alt; }).join("; ");
    // a picture drawn as HTML (a table): its sliders' names and values, once every slider has both
    var handles = [].slice.call(explorer.querySelectorAll("[role=slider]"));
    if (!handles.length || handles.some(function (handle) {
      return !handle.getAttribute("aria-label") || !handle.getAttribute("aria-valuetext");
    })) return "";
    return handles.map(function (handle) {
      return handle.getAttribute("aria-label") + " = " + handle.getAttribute("aria-valuetext");
    }).join(", ");
  }

  function announceChange(explorer) {
    // the box carries its class before the widget manager has drawn its title and pictures: name it
    // once the title is there
    var title = explorer.querySelector("em");
    if (title && title.textContent.trim() && !explorer.getAttribute("aria-label")) {
      explorer.setAttribute("role", "group");
      explorer.setAttribute("aria-label", title.textContent.trim());
    }
    var live = explorer.querySelector(":scope > .course-lib-live");
    if (!live) {
      live = document.createElement("div");
      live.className = "course-lib-live visually-hidden";
      live.setAttribute("aria-live", "polite");
      explorer.appendChild(live);
    }
    var text = shownText(explorer);
    if (!text || text === live.dataset.shown) return;
    live.dataset.shown = text;
    // news only after a reader moved a slider: while the page draws, each stack shows its pictures in turn
    if (explorer.dataset.touched) live.textContent = text;
  }

  function touched(event) {
    var explorer = event.target && event.target.closest && event.target.closest(".course-lib-explore");
    if (explorer) explorer.dataset.touched = "1";
  }

  var queued = false;
  function update() {
    queued = false;
    document.querySelectorAll(".widget-slider [role=slider]").forEach(describeSlider);
    document.querySelectorAll(".course-lib-explore").forEach(announceChange);
  }

  function start() {
    ["keydown", "pointerdown"].forEach(function (kind) { document.addEventListener(kind, touched, true); });
    update();
    new MutationObserver(function () {
      if (!queued) { queued = true; Promise.resolve().then(update); }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true,
                               attributeFilter: ["aria-valuenow", "aria-valuetext", "class", "style"] });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
