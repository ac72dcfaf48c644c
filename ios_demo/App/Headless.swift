// Foundation's UserDefaults argument domain (UserDefaults.argumentDomain, volatileDomain(forName:)):
// `-camkitManifest NAME` on the launch command line lands there; URLComponents for the URL scheme.
import CamkitCore
import Foundation
import UIKit

/// A headless benchmark, from the launch arguments (`xcrun devicectl device process launch
/// ... dev.camkit.demo -camkitManifest M -camkitBackend coreml-ane -camkitRuns 10
/// -camkitWarmup 2 -camkitStrict 1 -camkitOut R.json`) or the URL scheme
/// (`camkit://benchmark?manifest=M&backend=coreml-ane&runs=10&warmup=2&strict=1&out=R.json`).
struct HeadlessRequest: Equatable {
    var manifest: String
    var backend: String
    var runs: Int
    var warmup: Int
    var strict: Bool
    var out: String
    /// What started the run, as the app received it (the result's `argv`).
    var argv: [String]

    /// The request in the launch arguments, or nil when there is none.
    static func fromLaunchArguments(_ defaults: UserDefaults = .standard,
                                    arguments: [String] = ProcessInfo.processInfo.arguments) -> HeadlessRequest? {
        let domain = defaults.volatileDomain(forName: UserDefaults.argumentDomain)
        func value(_ key: String) -> String? { domain["camkit" + key].map { "\($0)" } }
        return make(value, argv: arguments)
    }

    /// The request a `camkit://benchmark?...` URL carries, or nil for another URL.
    static func from(url: URL) -> HeadlessRequest? {
        guard url.scheme == "camkit", url.host == "benchmark",
              let items = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems else { return nil }
        func value(_ key: String) -> String? { items.first { $0.name.lowercased() == key.lowercased() }?.value }
        return make(value, argv: [url.absoluteString])
    }

    /// Missing settings get the host's defaults (toolkit/profilers/ios_app.py: 10 runs, 2 warm-up,
    /// strict); a value that does not parse is kept out of range so the benchmark refuses it.
    private static func make(_ value: (String) -> String?, argv: [String]) -> HeadlessRequest? {
        guard let manifest = value("Manifest") else { return nil }
        let backend = value("Backend") ?? Backend.coremlAll.id
        let strictText = (value("Strict") ?? "1").lowercased()
        let stem = manifest.hasSuffix(".manifest.json") ? String(manifest.dropLast(".manifest.json".count)) : manifest
        return HeadlessRequest(
            manifest: manifest, backend: backend,
            runs: value("Runs").flatMap { Int($0) } ?? (value("Runs") == nil ? 10 : -1),
            warmup: value("Warmup").flatMap { Int($0) } ?? (value("Warmup") == nil ? 2 : -1),
            strict: !["0", "false", "no"].contains(strictText),
            out: value("Out") ?? "\(stem)-\(backend).json", argv: argv)
    }
}

/// Runs headless requests one at a time and writes each result into `camkit/results/`.
@MainActor
final class HeadlessController: ObservableObject {
    @Published private(set) var status: String?
    @Published private(set) var running = false
    private var launchHandled = false

    /// The launch arguments' request, once per launch.
    func startFromLaunchArguments() {
        guard !launchHandled else { return }
        launchHandled = true
        if let request = HeadlessRequest.fromLaunchArguments() { start(request) }
    }

    func start(url: URL) {
        guard let request = HeadlessRequest.from(url: url) else {
            status = "not a camkit benchmark URL: \(url.absoluteString)"
            return
        }
        start(request)
    }

    func start(_ request: HeadlessRequest) {
        guard !running else {
            status = "busy: \(request.manifest) on \(request.backend) was not started (one run at a time)"
            return
        }
        running = true
        status = "benchmark: \(request.manifest) on \(request.backend), \(request.runs) runs"
        UIApplication.shared.isIdleTimerDisabled = true  // a sleeping phone would pause the run
        Task.detached(priority: .userInitiated) {
            let written = await HeadlessController.run(request)
            await MainActor.run { self.finish(written) }
        }
    }

    private func finish(_ written: Result<URL, Error>) {
        UIApplication.shared.isIdleTimerDisabled = false
        running = false
        switch written {
        case let .success(url): status = "wrote \(url.lastPathComponent)"
        case let .failure(error): status = "could not write the result: \(error.localizedDescription)"
        }
    }

    /// The benchmark of `request` (a refusal is a result too), written as JSON.
    nonisolated static func run(_ request: HeadlessRequest) async -> Result<URL, Error> {
        let platform = IOSPlatform()
        let report: ProfileReport
        if !StorePaths.isPlainName(request.manifest) || !StorePaths.isPlainName(request.out) {
            report = await Benchmark.refused(
                "manifest '\(request.manifest)' and out '\(request.out)' must be plain file names (of camkit/artifacts, camkit/results)",
                platform: platform, backendId: request.backend, strict: request.strict, argv: request.argv)
        } else {
            do {
                let factory = try CoreMLRunnerFactory(compileFresh: true)
                report = await Benchmark(factory: factory, platform: platform).run(
                    manifestFile: StorePaths.artifacts.appendingPathComponent(request.manifest), backendId: request.backend,
                    runs: request.runs, warmup: request.warmup, strict: request.strict, argv: request.argv)
            } catch {
                report = await Benchmark.refused("the app cannot set up Core ML's cache: \(error.localizedDescription)",
                                                 platform: platform, backendId: request.backend, strict: request.strict,
                                                 argv: request.argv)
            }
        }
        let out = StorePaths.isPlainName(request.out) ? request.out : "invalid-out.json"
        return Result { try StorePaths.writeResult(ProfileJson.write(report), name: out) }
    }
}
