// SwiftUI (iOS 17 SDK): Form, Stepper, Toggle, DisclosureGroup, ShareLink (iOS 16).
import CamkitCore
import SwiftUI

/// The on-device benchmark of one manifest on one compute-unit setting, through CamkitCore's
/// ``Benchmark``: cold load (compile included) and warm load, first prediction, warm-up, timed
/// runs and their percentiles, pre- and post-processing apart, thermal state before and after,
/// Core ML's planned placement, parity with the torch reference in the sample.
struct BenchmarkScreen: View {
    @State private var selection: String?
    @State private var backend: Backend = .coremlAne
    @State private var runs = 20
    @State private var warmup = 3
    @State private var strict = true
    @State private var running = false
    @State private var report: ProfileReport?
    @State private var saved: URL?
    @State private var saveError: String?
    @EnvironmentObject private var store: ModelStore

    var body: some View {
        NavigationStack {
            Form {
                Section("Run") {
                    ManifestPicker(selection: $selection)
                    BackendPicker(backend: $backend)
                    Stepper("Runs: \(runs)", value: $runs, in: 1...500)
                    Stepper("Warm-up: \(warmup)", value: $warmup, in: 0...50)
                    Toggle("Strict: refuse ops planned off the chosen device", isOn: $strict)
                    Button(running ? "Running…" : "Run benchmark") { Task { await run() } }
                        .disabled(running || selection == nil)
                }
                if let report {
                    ReportSections(report: report)
                    Section {
                        Button("Save JSON to camkit/results") { save(report) }
                        if let saved {
                            ShareLink(item: saved) { Label(saved.lastPathComponent, systemImage: "square.and.arrow.up") }
                        }
                        if let saveError { Text(saveError).foregroundStyle(.red) }
                    }
                }
            }
            .navigationTitle("Benchmark")
        }
    }

    private func run() async {
        guard let name = selection, let entry = store.manifests.first(where: { $0.name == name }) else { return }
        running = true
        saved = nil
        let (file, backendId, runs, warmup, strict) = (entry.file, backend.id, self.runs, self.warmup, self.strict)
        let argv = ["camkit-ios benchmark screen", name, backendId, "runs=\(runs)", "warmup=\(warmup)", "strict=\(strict)"]
        report = await Task.detached(priority: .userInitiated) { () -> ProfileReport in
            let platform = IOSPlatform()
            do {
                let factory = try CoreMLRunnerFactory(compileFresh: true)
                return await Benchmark(factory: factory, platform: platform).run(
                    manifestFile: file, backendId: backendId, runs: runs, warmup: warmup, strict: strict, argv: argv)
            } catch {
                return await Benchmark.refused("the app cannot set up Core ML's cache: \(error.localizedDescription)",
                                               platform: platform, backendId: backendId, strict: strict, argv: argv)
            }
        }.value
        running = false
    }

    private func save(_ report: ProfileReport) {
        let stem = (report.model.sha256.map { String($0.prefix(12)) } ?? "result")
        let name = "\(stem)-\(report.app.backend)-\(Int(Date().timeIntervalSince1970)).json"
        do {
            saved = try StorePaths.writeResult(ProfileJson.write(report), name: name)
            saveError = nil
        } catch {
            saveError = error.localizedDescription
        }
    }
}

/// A report as form sections.
struct ReportSections: View {
    let report: ProfileReport

    var body: some View {
        if let error = report.error {
            Section("Error (\(error.kind))") { Text(error.message).foregroundStyle(.red) }
        }
        Section("Load (compile included in cold)") {
            row("cold", ms(report.app.loadColdMs))
            row("warm", ms(report.app.loadWarmMs))
        }
        Section("Latency, \(report.latency.n.map { String($0) } ?? "no") runs") {
            row("first prediction", ms(report.latency.firstMs))
            row("warm-up mean", ms(report.latency.warmupMeanMs))
            row("mean", ms(report.latency.meanMs))
            row("median", ms(report.latency.medianMs))
            row("p5 / p90", "\(ms(report.latency.p5Ms)) / \(ms(report.latency.p90Ms))")
            row("p95 / p99", "\(ms(report.latency.p95Ms)) / \(ms(report.latency.p99Ms))")
            row("min / max", "\(ms(report.latency.minMs)) / \(ms(report.latency.maxMs))")
            row("std", ms(report.latency.stdMs))
            row("pre / post (median)", "\(ms(report.app.preprocessMs)) / \(ms(report.app.postprocessMs))")
        }
        Section("Device") {
            row("thermal", "\(report.app.thermalBefore ?? "?") → \(report.app.thermalAfter ?? "?")")
            row("device", "\(report.device?.model ?? "?"), \(report.device?.os ?? "?")")
            row("memory peak", report.memory.peakMb.map { String(format: "%.0f MB", $0) } ?? "–")
        }
        Section("Compute plan (planned placement, not measured)") {
            let placed = report.ops.compactMap(\.placement)
            if placed.isEmpty {
                Text(report.runtime.option("compute_plan") ?? "no plan").font(.footnote)
            } else {
                ForEach(["NeuralEngine", "GPU", "CPU"], id: \.self) { device in
                    row(device, "\(placed.filter { $0 == device }.count) ops")
                }
                if let fallback = report.app.fallbackOps, !fallback.isEmpty {
                    row("off \(Backend(rawValue: report.app.backend)?.preferredDevice ?? "the device")", fallback.joined(separator: ", "))
                }
                DisclosureGroup("\(report.ops.count) ops") {
                    ForEach(Array(report.ops.enumerated()), id: \.offset) { _, op in
                        Text(line(op)).font(.caption.monospaced())
                    }
                }
            }
        }
        Section("Parity vs the torch reference (sample)") {
            if let parity = report.app.parity {
                ForEach(Array(parity.enumerated()), id: \.offset) { _, p in
                    row(p.output, p.psnrDb.isInfinite ? "identical" : String(format: "%.2f dB, max |Δ| %.4f", p.psnrDb, p.maxAbs))
                }
            } else {
                Text("not measured").foregroundStyle(.secondary)
            }
        }
    }

    private func row(_ label: String, _ value: String) -> some View {
        HStack {
            Text(label)
            Spacer()
            Text(value).foregroundStyle(.secondary).monospacedDigit()
        }
    }

    /// One planned op: device, operator, name, share of the cost.
    private func line(_ op: OpRow) -> String {
        var text = "\(op.placement ?? "–")  \(op.nodeType)  \(op.name ?? "")"
        if let cost = op.costFraction { text += String(format: "  %.1f%%", 100 * cost) }
        return text
    }

    private func ms(_ value: Double?) -> String { value.map { String(format: "%.2f ms", $0) } ?? "–" }
}
