/* Loaded before MathJax, require.js and the widget manager (see course_lib/book_sphinx.py).
 *
 * 1. The ipywidgets HTML manager loads its fonts from the folder requirejs thinks its
 *    module lives in; point that folder at our vendored copy in _static/html-manager/.
 *    A global `require` object defined before require.js loads is its configuration.
 * 2. The widget manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the
 *    book uses MathJax 3, which has no Hub.  Give every MathJax object a tiny Hub that
 *    forwards to MathJax 3's typesetPromise.
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
