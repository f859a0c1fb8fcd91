# NixOS module: the NixFleet dashboard as a systemd service (`services.nixfleet-dashboard`).
#
#   imports = [ inputs.nixfleet.nixosModules.dashboard ];
#   services.nixfleet-dashboard = {
#     enable = true;
#     listen = "127.0.0.1:8000";                  # behind your reverse proxy (TLS there)
#     environmentFile = "/run/agenix/nixfleet-env"; # NIXFLEET_PASSWORD_HASH, _SESSION_SECRET, _AGENT_TOKEN, ...
#     settings.VERSION_URL = "https://me.github.io/nixcfg/version.json";
#   };
#
# The environment file is the container's `.env` (an existing Go dashboard env file works unchanged); the
# database, command logs and UI storage live in `dataDir` (a Go dashboard's /data can be copied there as is).
self:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nixfleet-dashboard;
  port = lib.toInt (lib.last (lib.splitString ":" cfg.listen));
in
{
  options.services.nixfleet-dashboard = {
    enable = lib.mkEnableOption "the NixFleet dashboard";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.nixfleet;
      defaultText = lib.literalExpression "inputs.nixfleet.packages.\${system}.nixfleet";
      description = "The nixfleet package whose `nixfleet serve` runs.";
    };
    listen = lib.mkOption {
      type = lib.types.strMatching ".*:[0-9]+";
      default = "127.0.0.1:8000";
      description = "Address agents, browsers and the API connect to, `host:port` (NIXFLEET_LISTEN).";
    };
    dataDir = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/nixfleet";
      description = "SQLite database, command logs and UI storage (NIXFLEET_DATA_DIR).";
    };
    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/agenix/nixfleet-env";
      description = ''
        `NIXFLEET_*=value` lines with the secrets: NIXFLEET_PASSWORD_HASH, NIXFLEET_SESSION_SECRET and
        NIXFLEET_AGENT_TOKEN are required, NIXFLEET_TOTP_SECRET and NIXFLEET_GITHUB_TOKEN optional. Keep it out
        of the Nix store (agenix, sops-nix).
      '';
    };
    settings = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.oneOf [
          lib.types.str
          lib.types.int
          lib.types.bool
        ]
      );
      default = { };
      example = {
        VERSION_URL = "https://me.github.io/nixcfg/version.json";
        GITHUB_REPO = "me/nixcfg";
        TRUSTED_PROXIES = "127.0.0.1";
      };
      description = "Non-secret settings, each set as NIXFLEET_<NAME> (README: Configuration).";
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the listen port in the firewall (not needed behind a reverse proxy on this host).";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users.nixfleet = {
      isSystemUser = true;
      group = "nixfleet";
      home = cfg.dataDir;
    };
    users.groups.nixfleet = { };

    systemd.tmpfiles.rules = [ "d ${cfg.dataDir} 0750 nixfleet nixfleet - -" ];

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ port ];

    systemd.services.nixfleet-dashboard = {
      description = "NixFleet dashboard";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment =
        lib.mapAttrs' (
          name: value:
          lib.nameValuePair "NIXFLEET_${name}" (
            if lib.isBool value then lib.boolToString value else toString value
          )
        ) cfg.settings
        // {
          NIXFLEET_LISTEN = cfg.listen;
          NIXFLEET_DATA_DIR = toString cfg.dataDir;
        };
      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} serve";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) (toString cfg.environmentFile);
        User = "nixfleet";
        Group = "nixfleet";
        WorkingDirectory = cfg.dataDir;
        Restart = "on-failure";
        RestartSec = 3;
        # Graceful shutdown closes agents with 1001, flushes heartbeat data and stores the state version.
        TimeoutStopSec = 30;
        # Hardening: the dashboard only needs its data dir and the network.
        ReadWritePaths = [ (toString cfg.dataDir) ];
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        NoNewPrivileges = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectControlGroups = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        UMask = "0027";
      };
    };
  };
}
