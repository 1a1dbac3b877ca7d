import ArgumentParser

/// The `sluice` command: a thin front over the library targets.
@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A sidecar proxy for LLM traffic: routing, limits, cache, resilience and cost accounting.",
        subcommands: [
            DevCommand.self,
            SidecarCommand.self,
            ValidateCommand.self,
            KeygenCommand.self,
            MockProviderCommand.self,
        ]
    )
}
