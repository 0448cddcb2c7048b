import CFrugalKernels
import Foundation

/// What the CPU offers to Frugal's kernels, read once by CPUID.
public struct CPUInfo: Sendable {
    public let hasAVX2FMA: Bool
    public let hasAVX512: Bool
    public let hasAVX512VNNI: Bool
    public let cores: Int

    public static let current: CPUInfo = {
        let f = frugal_cpu_features()
        return CPUInfo(
            hasAVX2FMA: f & UInt32(FRUGAL_CPU_AVX2_FMA) != 0,
            hasAVX512: f & UInt32(FRUGAL_CPU_AVX512) != 0,
            hasAVX512VNNI: f & UInt32(FRUGAL_CPU_AVX512_VNNI) != 0,
            cores: ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// The best kernel family this CPU runs: "avx512-vnni", "avx512", "avx2" or "portable".
    public var kernelName: String {
        hasAVX512VNNI ? "avx512-vnni" : hasAVX512 ? "avx512" : hasAVX2FMA ? "avx2" : "portable"
    }
}
