# `nix flake check`: the package builds, and a NixOS system using both modules evaluates and builds its units.
# (The home-manager module is not checked here: that would need home-manager as a flake input.)
{ self, nixpkgs }:
system: {
  package = self.packages.${system}.nixfleet;
  nixos-modules =
    (nixpkgs.lib.nixosSystem {
      modules = [
        self.nixosModules.agent
        self.nixosModules.dashboard
        {
          nixpkgs.hostPlatform = system;
          boot.isContainer = true;
          system.stateVersion = "25.05";
          services.nixfleet-agent = {
            enable = true;
            url = "ws://127.0.0.1:8000/ws";
            tokenFile = "/run/secrets/nixfleet-token";
            repoDir = "/etc/nixos";
            user = "admin";
          };
          users.users.admin.isNormalUser = true;
          services.nixfleet-dashboard = {
            enable = true;
            environmentFile = "/run/secrets/nixfleet-env";
            settings.VERSION_URL = "https://example.github.io/nixcfg/version.json";
          };
        }
      ];
    }).config.system.build.toplevel;
}
