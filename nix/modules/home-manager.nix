# home-manager module: the NixFleet agent for one user (`services.nixfleet-agent`): a launchd agent on macOS, a
# systemd user service on Linux (home-manager-only hosts).
#
#   imports = [ inputs.nixfleet.homeManagerModules.agent ];
#   services.nixfleet-agent = {
#     enable = true;
#     url = "wss://fleet.example.com/ws";
#     tokenFile = "${config.home.homeDirectory}/.config/nixfleet/token";
#     repoDir = "${config.home.homeDirectory}/Code/nixcfg";
#   };
#
# `switch` runs `home-manager switch` (or `sudo darwin-rebuild switch` with nix-darwin, which needs a NOPASSWD
# sudo rule for this user). Either supervisor restarts the agent 3 s after it exits, as systemd does for the
# system service.
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
  start = common.startScript {
    inherit pkgs;
    inherit (cfg) package;
    tokenPath = lib.escapeShellArg (toString cfg.tokenFile);
  };
  environment = common.environment cfg // {
    # launchd and systemd user services start with a bare PATH: the user's profile and the system's come first.
    PATH = lib.concatStringsSep ":" [
      "${config.home.profileDirectory}/bin"
      "/run/wrappers/bin"
      "/run/current-system/sw/bin"
      "/nix/var/nix/profiles/default/bin"
      "/usr/local/bin"
      "/usr/bin"
      "/bin"
      "/usr/sbin"
      "/sbin"
    ];
  };
in
{
  options.services.nixfleet-agent = common.options // {
    enable = lib.mkEnableOption "the NixFleet agent (per user)";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.nixfleet;
      defaultText = lib.literalExpression "inputs.nixfleet.packages.\${system}.nixfleet";
      description = "The nixfleet package whose `nixfleet agent` runs.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = cfg.repoDir != null || cfg.repoUrl != null;
            message = "services.nixfleet-agent: set repoDir (your checkout) or repoUrl (the agent clones it)";
          }
        ];
      }

      (lib.mkIf pkgs.stdenv.hostPlatform.isDarwin {
        launchd.agents.nixfleet-agent = {
          enable = true;
          config = {
            ProgramArguments = [ "${start}" ];
            EnvironmentVariables = environment;
            RunAtLoad = true;
            KeepAlive = true; # any exit, 101 or 0 included, is followed by a new start
            ThrottleInterval = 3; # like RestartSec=3 (launchd's default would be 10 s)
            ProcessType = "Background";
            StandardOutPath = "${config.home.homeDirectory}/Library/Logs/nixfleet-agent.log";
            StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/nixfleet-agent.log";
          };
        };
      })

      (lib.mkIf pkgs.stdenv.hostPlatform.isLinux {
        systemd.user.services.nixfleet-agent = {
          Unit = {
            Description = "NixFleet agent";
            After = [ "network-online.target" ];
            # a home-manager switch must not restart the agent in the middle of the switch it runs
            X-RestartIfChanged = false;
          };
          Service = {
            ExecStart = "${start}";
            Environment = lib.mapAttrsToList (name: value: ''"${name}=${value}"'') environment;
            Restart = "always";
            RestartSec = 3;
            RestartForceExitStatus = 101;
            SuccessExitStatus = 101;
            KillMode = "mixed";
            TimeoutStopSec = 20;
          };
          Install.WantedBy = [ "default.target" ];
        };
      })
    ]
  );
}
