# Evaluate flake.nix and every module against stub-nixpkgs.nix; `nix-instantiate --eval --strict --json` prints
# what test_nix_eval.py checks. Each module gets its own options' defaults plus the settings below as its config.
{ root, system ? "x86_64-linux" }:
let
  stub = import ./stub-nixpkgs.nix { inherit system; };
  inherit (stub) lib pkgs nixpkgs;
  flake = import (root + "/flake.nix");
  outputs = flake.outputs {
    self = outputs // { rev = "0123456789abcdef0123456789abcdef01234567"; };
    inherit nixpkgs;
  };

  # A module applied to a config made of its own option defaults and `settings` (no nixpkgs module system).
  evalModule =
    module: name: settings: extra:
    let
      result = module ({ inherit lib pkgs; config = extra // { services.${name} = cfg; }; });
      options = result.options.services.${name};
      cfg = builtins.mapAttrs (_: option: option.default or null) options // settings;
    in
    {
      options = builtins.attrNames options;
      config = result.config;
    };

  agentSettings = {
    enable = true;
    url = "wss://fleet.example.com/ws";
    tokenFile = "/run/agenix/nixfleet-token";
    repoDir = "/home/admin/Code/nixcfg";
    themeColor = "#e0af68";
  };
  home = {
    home = {
      homeDirectory = "/Users/admin";
      profileDirectory = "/Users/admin/.nix-profile";
    };
  };
  scriptText = script: script.text;
in
{
  outputs = builtins.attrNames outputs;
  inputs = flake.inputs;
  package = {
    inherit (outputs.packages.${system}.nixfleet) pname version makeWrapperArgs pythonImportsCheck;
    dependencies = builtins.length outputs.packages.${system}.nixfleet.dependencies;
    mainProgram = outputs.packages.${system}.nixfleet.meta.mainProgram;
  };
  agent =
    let
      evaluated = evalModule outputs.nixosModules.agent "nixfleet-agent" (agentSettings // { user = "admin"; }) {
        nix.package = "/nix/store/stub-nix";
      };
      service = evaluated.config.content.systemd.services.nixfleet-agent;
    in
    {
      inherit (evaluated) options;
      inherit (service) environment restartIfChanged path;
      serviceConfig = service.serviceConfig // { ExecStart = service.serviceConfig.ExecStart.outPath; };
      start = scriptText service.serviceConfig.ExecStart;
      sudo = evaluated.config.content.security.sudo.extraRules;
      assertions = map (a: a.assertion) evaluated.config.content.assertions;
    };
  dashboard =
    let
      evaluated = evalModule outputs.nixosModules.dashboard "nixfleet-dashboard" {
        enable = true;
        listen = "0.0.0.0:8443";
        environmentFile = "/run/agenix/nixfleet-env";
        openFirewall = true;
        settings = {
          VERSION_URL = "https://me.github.io/nixcfg/version.json";
          GITHUB_POLL_TTL = 600;
        };
      } { };
      content = evaluated.config.content;
    in
    {
      inherit (evaluated) options;
      inherit (content.systemd.services.nixfleet-dashboard) environment serviceConfig;
      firewall = content.networking.firewall.allowedTCPPorts;
      tmpfiles = content.systemd.tmpfiles.rules;
    };
  homeManager =
    let
      evaluated = evalModule outputs.homeManagerModules.agent "nixfleet-agent" agentSettings home;
      parts = evaluated.config.content.contents;
      launchd = (builtins.elemAt parts 1).content.launchd.agents.nixfleet-agent;
      user = (builtins.elemAt parts 2).content.systemd.user.services.nixfleet-agent;
    in
    {
      inherit (evaluated) options;
      darwin = (builtins.elemAt parts 1).condition;
      linux = (builtins.elemAt parts 2).condition;
      launchd = launchd.config // { ProgramArguments = map (p: p.outPath or p) launchd.config.ProgramArguments; };
      systemd = user;
    };
}
