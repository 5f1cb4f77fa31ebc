/** The program's version; the Docker build stamps it (see Dockerfile). */
export const VERSION = "0.1.0";
