# The nixfleet Python package: `nixfleet serve` (dashboard) and `nixfleet agent` (agent) from one build.
# Dependencies come from nixpkgs' python3Packages; pyproject.toml pins exact versions for the container image,
# so the version bounds are relaxed here (nixpkgs decides the versions, the test suite runs in CI, not here).
{
  lib,
  python3Packages,
  sourceCommit ? "",
}:
let
  project = (lib.importTOML ../pyproject.toml).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  # Only what the build reads: a change to tests or docs does not rebuild the agent on every host.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../nixfleet
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    nicegui
    reactivex
    sqlite-utils
    pydantic
    pydantic-settings
    apscheduler
    httpx
    websockets
    psutil
    bcrypt
    pyotp
    prometheus-client
    uvicorn
    wsproto
  ];

  pythonRelaxDeps = true;

  # The agent reports this as `source_commit`, so the dashboard can tell an outdated agent (NIXFLEET_SOURCE_COMMIT).
  makeWrapperArgs = lib.optionals (sourceCommit != "") [
    "--set-default"
    "NIXFLEET_SOURCE_COMMIT"
    sourceCommit
  ];

  # The suite needs a browser, sockets and minutes; it runs in CI (.ci/run). Importing is checked here.
  doCheck = false;
  pythonImportsCheck = [
    "nixfleet.cli"
    "nixfleet.agent"
  ];

  meta = {
    inherit (project) description;
    license = lib.licenses.mit;
    mainProgram = "nixfleet";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
