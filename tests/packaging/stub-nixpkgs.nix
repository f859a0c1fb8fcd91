# A stand-in for nixpkgs, for evaluating flake.nix and the modules with the Debian `nix-instantiate` (no nixpkgs,
# no store here). It defines only what our Nix files use, with the real names and argument orders, so a typo in
# a lib function, an option or an attribute path fails evaluation. Real evaluation: `nix flake check` (nix.yml).
{ system ? "x86_64-linux" }:
let
  inherit (builtins) listToAttrs map filter attrNames concatStringsSep isBool;
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  type = name: { _type = "option-type"; inherit name; };
  lib = {
    inherit genAttrs;
    mkOption = attrs: { _type = "option"; } // attrs;
    mkEnableOption = name: { _type = "option"; default = false; description = "Whether to enable ${name}."; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    types = {
      str = type "str";
      path = type "path";
      package = type "package";
      bool = type "bool";
      int = type "int";
      nullOr = t: type "nullOr ${t.name}";
      attrsOf = t: type "attrsOf ${t.name}";
      oneOf = ts: type "oneOf";
      enum = values: type "enum";
      strMatching = pattern: type "strMatching ${pattern}";
      ints.between = lo: hi: type "int between ${toString lo} and ${toString hi}";
    };
    filterAttrs = pred: set: listToAttrs (map (n: { name = n; value = set.${n}; }) (filter (n: pred n set.${n}) (attrNames set)));
    mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    nameValuePair = name: value: { inherit name value; };
    inherit concatStringsSep isBool;
    boolToString = b: if b then "true" else "false";
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    splitString = sep: s: filter builtins.isString (builtins.split (builtins.replaceStrings [ "." ] [ "\\." ] sep) s);
    last = list: builtins.elemAt list (builtins.length list - 1);
    toInt = s: builtins.fromJSON s;
    optionals = cond: list: if cond then list else [ ];
    getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram}";
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    fileset = {
      unions = paths: paths;
      toSource = { root, fileset }: { inherit root fileset; };
    };
    licenses.mit = "mit";
    platforms = { linux = [ "x86_64-linux" ]; darwin = [ "aarch64-darwin" ]; };
  };
  pkgs = {
    inherit lib;
    stdenv.hostPlatform = {
      inherit system;
      isDarwin = builtins.match ".*-darwin" system != null;
      isLinux = builtins.match ".*-linux" system != null;
    };
    git = "/nix/store/stub-git";
    writeShellScript = name: text: { _type = "script"; inherit name text; outPath = "/nix/store/stub-${name}"; };
    python3Packages = genAttrs [
      "setuptools" "nicegui" "reactivex" "sqlite-utils" "pydantic" "pydantic-settings" "apscheduler" "httpx"
      "websockets" "psutil" "bcrypt" "pyotp" "prometheus-client"
    ] (name: "/nix/store/stub-python3-${name}") // {
      buildPythonApplication = attrs: attrs // { outPath = "/nix/store/stub-nixfleet"; };
    };
    callPackage = path: args: import path ({ inherit lib; inherit (pkgs) python3Packages; } // args);
  };
  nixpkgs = {
    inherit lib;
    legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ] (_: pkgs);
  };
in
{
  inherit lib pkgs nixpkgs;
}
