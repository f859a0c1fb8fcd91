# What the NixOS and home-manager agent modules share: their options and the agent's environment.
# The agent reads the Go agent's NIXFLEET_* variables (AGENT-PROTOCOL.md §2.1), so both agents configure alike.
{ lib }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    url = mkOption {
      type = types.str;
      example = "wss://fleet.example.com/ws";
      description = "Dashboard agent endpoint, `ws://` or `wss://`, path included (NIXFLEET_URL).";
    };
    tokenFile = mkOption {
      type = types.path;
      example = "/run/agenix/nixfleet-token";
      description = ''
        File holding the agent token (NIXFLEET_TOKEN): the bare token, or a `NIXFLEET_TOKEN=...` line as the Go
        agent's modules used. Give a path outside the Nix store (agenix, sops-nix): a store path is world-readable.
      '';
    };
    hostname = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Host id on the dashboard (NIXFLEET_HOSTNAME); default the machine's short hostname.";
    };
    interval = mkOption {
      type = types.ints.between 1 3600;
      default = 5;
      description = "Heartbeat interval in seconds (NIXFLEET_INTERVAL).";
    };
    repoDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/home/admin/Code/nixcfg";
      description = ''
        The flake checkout the agent pulls and switches (NIXFLEET_REPO_DIR). With `repoUrl` it defaults to the
        agent's own clone under its state directory.
      '';
    };
    repoUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "git@github.com:me/nixcfg.git";
      description = "Isolated mode: the agent clones this itself; pull = fetch + reset --hard (NIXFLEET_REPO_URL).";
    };
    branch = mkOption {
      type = types.str;
      default = "main";
      description = "Branch pulled in isolated mode (NIXFLEET_BRANCH).";
    };
    sshKeyFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Private key git uses over SSH (NIXFLEET_SSH_KEY); keep it out of the Nix store.";
    };
    location = mkOption {
      type = types.str;
      default = "home";
      description = "Location shown on the dashboard (NIXFLEET_LOCATION), e.g. home, work, cloud.";
    };
    deviceType = mkOption {
      type = types.str;
      default = "desktop";
      description = "Device type shown on the dashboard (NIXFLEET_DEVICE_TYPE): server, desktop, laptop, gaming.";
    };
    themeColor = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "#7aa2f7";
      description = "The host's colour on the dashboard (NIXFLEET_THEME_COLOR); default chosen by the dashboard.";
    };
    logLevel = mkOption {
      type = types.enum [
        "debug"
        "info"
        "warn"
        "error"
      ];
      default = "info";
      description = "Agent log level (NIXFLEET_LOG_LEVEL).";
    };
  };

  # NIXFLEET_* variables from the options (unset ones are left out, so the agent applies its defaults).
  environment =
    cfg:
    lib.filterAttrs (_: value: value != null) {
      NIXFLEET_URL = cfg.url;
      NIXFLEET_HOSTNAME = cfg.hostname;
      NIXFLEET_INTERVAL = toString cfg.interval;
      NIXFLEET_REPO_DIR = cfg.repoDir;
      NIXFLEET_REPO_URL = cfg.repoUrl;
      NIXFLEET_BRANCH = cfg.branch;
      NIXFLEET_SSH_KEY = if cfg.sshKeyFile == null then null else toString cfg.sshKeyFile;
      NIXFLEET_LOCATION = cfg.location;
      NIXFLEET_DEVICE_TYPE = cfg.deviceType;
      NIXFLEET_THEME_COLOR = cfg.themeColor;
      NIXFLEET_LOG_LEVEL = cfg.logLevel;
    };

  # Start script: read the token file into NIXFLEET_TOKEN, then exec the agent, so the agent stays the main
  # process (its exit code, 101 after a successful switch, reaches the supervisor) and leads its process group.
  startScript =
    {
      pkgs,
      package,
      tokenPath, # a shell word: quoted path, or "$CREDENTIALS_DIRECTORY/token"
    }:
    pkgs.writeShellScript "nixfleet-agent-start" ''
      set -eu
      token=$(cat ${tokenPath})
      token=''${token#NIXFLEET_TOKEN=}
      if [ -z "$token" ]; then
        echo "nixfleet-agent: the token file is empty" >&2
        exit 1
      fi
      NIXFLEET_TOKEN=$token
      export NIXFLEET_TOKEN
      exec ${lib.getExe package} agent
    '';
}
