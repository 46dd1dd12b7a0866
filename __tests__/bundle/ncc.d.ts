// Types for the part of @vercel/ncc's Node API the bundle tests use (the package ships none).
declare module '@vercel/ncc' {
  interface NccAsset {
    source: Buffer | string;
    permissions?: number;
  }
  interface NccOptions {
    cache?: string | false;
    externals?: string[];
    minify?: boolean;
    sourceMap?: boolean;
    sourceMapRegister?: boolean;
    license?: string;
    target?: string;
    quiet?: boolean;
  }
  /** Bundles `input` and everything it imports; ESM output inside a "type": "module" package. */
  export default function ncc(
    input: string,
    options?: NccOptions,
  ): Promise<{ code: string; map?: string; assets?: Record<string, NccAsset> }>;
}
