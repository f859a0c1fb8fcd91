# NixOS module: the NixFleet agent as a systemd service (`services.nixfleet-agent`).
#
#   imports = [ inputs.nixfleet.nixosModules.agent ];
#   services.nixfleet-agent = {
#     enable = true;
#     url = "wss://fleet.example.com/ws";
#     tokenFile = config.age.secrets.nixfleet-token.path;
#     repoDir = "/home/admin/Code/nixcfg";
#   };
#
# Restart semantics are the Go agent's (AGENT-PROTOCOL.md §2, §5.4): after a successful switch the agent exits 101
# and systemd starts the new build 3 s later; `restart` exits 0 and is restarted the same way.
self:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nixfleet-agent;
  common = import ./agent-common.nix { inherit lib; };
in
{
  options.services.nixfleet-agent = common.options // {
    enable = lib.mkEnableOption "the NixFleet agent";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.nixfleet;
      defaultText = lib.literalExpression "inputs.nixfleet.packages.\${system}.nixfleet";
      description = "The nixfleet package whose `nixfleet agent` runs.";
    };
    user = lib.mkOption {
      type = lib.types.str;
      default = "root";
      description = ''
        User the agent runs as. It runs `sudo nixos-rebuild` and `sudo reboot`; for another user than root this
        module allows exactly those two without a password. The user needs write access to `repoDir`.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.repoDir != null || cfg.repoUrl != null;
        message = "services.nixfleet-agent: set repoDir (your checkout) or repoUrl (the agent clones it)";
      }
    ];

    security.sudo.extraRules = lib.mkIf (cfg.user != "root") [
      {
        users = [ cfg.user ];
        commands =
          map
            (command: {
              inherit command;
              options = [ "NOPASSWD" ];
            })
            [
              "/run/current-system/sw/bin/nixos-rebuild"
              "/run/current-system/sw/bin/reboot"
            ];
      }
    ];

    systemd.services.nixfleet-agent = {
      description = "NixFleet agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # sudo's setuid wrapper first; then the system's tools (git, nix, nixos-rebuild) as an admin shell has them.
      path = [
        "/run/wrappers"
        "/run/current-system/sw"
        pkgs.git
        config.nix.package
      ];
      environment = common.environment cfg;
      # Never restarted by an activation: the switch the agent runs would be killed mid-way. The agent restarts
      # itself once its switch succeeded (exit 101), and systemd then starts the new unit and package.
      restartIfChanged = false;
      serviceConfig = {
        ExecStart = common.startScript {
          inherit pkgs;
          inherit (cfg) package;
          tokenPath = ''"$CREDENTIALS_DIRECTORY/token"'';
        };
        LoadCredential = "token:${toString cfg.tokenFile}";
        User = cfg.user;
        StateDirectory = "nixfleet-agent";
        StateDirectoryMode = "0700";
        WorkingDirectory = "/var/lib/nixfleet-agent";
        Restart = "always";
        RestartSec = 3;
        RestartForceExitStatus = 101;
        # 101 is the agent's "restart me" (a successful switch), not a failure: keep the unit out of `failed`.
        SuccessExitStatus = 101;
        # SIGTERM to the agent alone: it stops its commands' process groups itself and closes its link with 1000;
        # whatever is left in the cgroup afterwards gets SIGKILL, so no old rebuild outlives the agent.
        KillMode = "mixed";
        TimeoutStopSec = 20;
      };
    };
  };
}
