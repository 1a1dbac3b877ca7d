import Foundation
import SluicePolicy

/// The diagnostics of loading `yaml` as `p.yaml`, as `description` lines; empty when it loads.
func problems(_ yaml: String) -> [String] {
    do {
        _ = try PolicyLoader.load(yaml: yaml, file: "p.yaml")
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// The structured diagnostics of loading `yaml` as `p.yaml`.
func diagnostics(_ yaml: String) -> [PolicyDiagnostic] {
    do {
        _ = try PolicyLoader.load(yaml: yaml, file: "p.yaml")
        return []
    } catch {
        return error.diagnostics
    }
}

/// The repository root, found from this file's path (Tests/SluicePolicyTests/TestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()

/// The path of a file in Tests/SluicePolicyTests/Fixtures, as copied into the test bundle.
func fixturePath(_ name: String) -> String? {
    let url = URL(fileURLWithPath: name)
    return Bundle.module.url(
        forResource: url.deletingPathExtension().lastPathComponent,
        withExtension: url.pathExtension,
        subdirectory: "Fixtures"
    )?.path
}

/// The smallest valid policy; tests append to or vary it.
let minimalPolicy = """
    providers:
      openai:
        kind: openai
        base_url: https://api.openai.com
    models:
      m:
        provider: openai
    """
