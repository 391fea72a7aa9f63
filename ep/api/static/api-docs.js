// Swagger UI for /api/v1, from the files flask-swagger-ui installs (no CDN). A file of
// its own rather than an inline script: EP's Content-Security-Policy allows no inline code.
window.addEventListener("load", function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    supportedSubmitMethods: ["get"],
  });
});
