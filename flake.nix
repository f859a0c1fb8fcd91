{
  description = "NixFleet: fleet manager for NixOS and macOS hosts (dashboard, agent, NixOS and home-manager modules)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # Reported by the agent as `source_commit`: hosts on an older flake.lock show as outdated agents.
      sourceCommit = self.rev or self.dirtyRev or "";
    in
    {
      packages = forAllSystems (pkgs: rec {
        nixfleet = pkgs.callPackage ./nix/package.nix { inherit sourceCommit; };
        default = nixfleet;
      });

      overlays.default = final: _prev: {
        nixfleet = final.callPackage ./nix/package.nix { inherit sourceCommit; };
      };

      nixosModules = {
        agent = import ./nix/modules/agent.nix self;
        dashboard = import ./nix/modules/dashboard.nix self;
      };

      homeManagerModules = {
        agent = import ./nix/modules/home-manager.nix self;
        default = self.homeManagerModules.agent;
      };

      checks = nixpkgs.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ] (import ./nix/checks.nix { inherit self nixpkgs; });
    };
}
